//go:build soak

package main

import "github.com/htdag/htdag/internal/soak/soakkinds"

// Built with -tags soak (internal/soak builds it so), `worker run` also
// works the soak's kinds.
func init() {
	extraKinds = append(extraKinds, kindSet{register: soakkinds.Register, kinds: soakkinds.Kinds()})
}
