package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is what `worker --version` prints: the module's version ("(devel)"
// for a build from a checkout), its VCS revision when the build recorded it,
// and the Go and River versions built in.
func version() string {
	v, rev, riverVersion := "(devel)", "", "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
		for _, d := range info.Deps {
			if d.Path == "github.com/riverqueue/river" {
				riverVersion = d.Version
			}
		}
	}
	return fmt.Sprintf("%s%s (%s, River %s)", v, rev, runtime.Version(), riverVersion)
}
