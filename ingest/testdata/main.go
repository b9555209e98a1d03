// Command fixture is a small program for the ingestion tests.
package main

import (
	"fmt"
	"os"

	"example.com/fixture/util"
)

// Version is the fixture's version.
const Version = "1.0"

// Config holds settings.
type Config struct {
	Name  string
	Debug bool
}

// Greeter says hello.
type Greeter interface {
	Greet(name string) string
}

var (
	defaultName = "world"
	verbose     bool
)

// Greet implements Greeter.
func (c *Config) Greet(name string) string {
	return fmt.Sprintf("hello, %s (from %s)", name, c.Name)
}

func main() {
	c := &Config{Name: util.Title(defaultName)}
	if len(os.Args) > 1 {
		verbose = true
	}
	fmt.Println(c.Greet(defaultName))
}
