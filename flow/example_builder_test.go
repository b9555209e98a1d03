package flow_test

import (
	"encoding/json"
	"fmt"
	"log"

	"github.com/htdag/htdag/flow"
)

// A diamond built from River JobArgs: lib and docs both wait for fetch, and
// release waits for both. The builder makes the same JSON that
// `SELECT flow.start(spec)` takes; a node can only depend on nodes added
// before it, so a built workflow has no cycle.
func ExampleWorkflow() {
	w := flow.New("release").Input(map[string]string{"commit": "4f2a9c1"})
	fetch := w.Add("fetch", BuildArgs{Target: "sources"})
	lib := w.Add("lib", BuildArgs{Target: "lib"}, flow.After(fetch))
	docs := w.Add("docs", BuildArgs{Target: "docs"}, flow.After(fetch), flow.WithPriority(2))
	w.Add("release", BuildArgs{Target: "release"}, flow.After(lib, docs), flow.WithMaxAttempts(3))

	spec, err := w.Spec()
	if err != nil {
		log.Fatal(err) // a *flow.SpecError
	}
	for _, n := range spec.Nodes {
		b, err := json.Marshal(n)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(b))
	}
	// Output:
	// {"id":"fetch","kind":"build","args":{"target":"sources"}}
	// {"id":"lib","kind":"build","args":{"target":"lib"},"deps":["fetch"]}
	// {"id":"docs","kind":"build","args":{"target":"docs"},"deps":["fetch"],"priority":2}
	// {"id":"release","kind":"build","args":{"target":"release"},"deps":["lib","docs"],"max_attempts":3}
}

// A builder error (here a dependency on a node of another workflow) is kept
// and returned, as a *flow.SpecError, by Spec and by every Start.
func ExampleWorkflow_Spec() {
	other := flow.New("other")
	elsewhere := other.Add("elsewhere", BuildArgs{Target: "x"})

	w := flow.New("release")
	w.Add("lib", BuildArgs{Target: "lib"}, flow.After(elsewhere))
	_, err := w.Spec()
	fmt.Println(err)
	// Output:
	// invalid workflow spec: node "lib": depends on "elsewhere", which is not in this workflow (add parents first)
}
