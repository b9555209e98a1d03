package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/htdag/htdag/flow"
)

// Shape names, in the order Run measures them. baseline comes first because
// every other shape's nodes/s is divided by its figure.
const (
	ShapeBaseline = "baseline"
	ShapeChain    = "chain"
	ShapeFanout   = "fanout"
	ShapeFanout1k = "fanout1k"
	// ShapeFanoutKeyed is fanout1k with concurrency keys on its middle
	// nodes: fanoutKeys keys of limit fanoutKeyLimit, so most nodes wait
	// for a slot and are admitted by the completions of their key.
	ShapeFanoutKeyed = "fanout-keyed"
	ShapeDiamonds    = "diamonds"
	// ShapeDiamondsBatched starts the same runs through Client.StartMany,
	// diamondBatch runs per transaction.
	ShapeDiamondsBatched = "diamonds-batched"
	ShapeLayered         = "layered"
	ShapeDefaults        = "defaults"

	// Hierarchy shapes (see hierarchy.go). Each measures the release and
	// roll-up of nested runs at about 1,000 and about 100,000 nodes; the
	// 100,000-node ones are opt-in (not in [Shapes], named with
	// Options.Shapes or worker bench --shape).
	ShapeTree1k       = "tree1k"
	ShapeTree100k     = "tree100k"
	ShapeFlatTree1k   = "flattree1k"
	ShapeFlatTree100k = "flattree100k"
	ShapeMapTree1k    = "maptree1k"
	ShapeMapTree100k  = "maptree100k"
)

// diamondBatch is how many runs diamonds-batched starts per call.
const diamondBatch = 25

// Shapes returns the names of the shapes Run measures by default (every
// shape but the opt-in ones), in the order Run measures them.
func Shapes() []string {
	var out []string
	for _, s := range shapes {
		if !s.optIn {
			out = append(out, s.name)
		}
	}
	return out
}

// AllShapes returns every shape's name, the opt-in ones included, in the
// order Run measures them.
func AllShapes() []string {
	out := make([]string, len(shapes))
	for i, s := range shapes {
		out[i] = s.name
	}
	return out
}

// layeredSeed makes the layered shape's random edges the same on every run.
const layeredSeed = 20_260_101

// shape is one benchmark workload at its full and quick sizes.
type shape struct {
	name string
	// describe says what the shape is, at the given size.
	describe func(quick bool) string
	// build makes the workload at the given size.
	build func(quick bool) *workload
	// optIn shapes run only when named in Options.Shapes.
	optIn bool
}

// workload is what one shape inserts.
type workload struct {
	// plainJobs > 0 means plain River no-op jobs (baseline), no flow at all.
	plainJobs int
	// specs holds one workflow spec (JSON) per run.
	specs [][]byte
	// nodes is the total number of jobs the workload inserts.
	nodes int
	// starters is how many goroutines call Client.Start at once.
	starters int
	// batch > 1 starts that many runs per Client.StartMany call.
	batch int
	// riverDefaults runs the shape with River's default fetch settings.
	riverDefaults bool
	// hierarchy collects the tree figures (Result.Hierarchy): release
	// latencies by kind and the engine functions' time (track_functions).
	hierarchy bool
	// wantOutput, when set, is the top run's expected output (JSON).
	wantOutput string
}

// size picks the full or quick (1/100) size.
func size(quick bool, full int) int {
	if quick {
		return max(full/100, 2)
	}
	return full
}

// shapes lists every shape in measuring order: the flat shapes, then the
// hierarchy shapes (hierarchy.go).
var shapes = append(flatShapes, hierarchyShapes...)

var flatShapes = []shape{
	{
		name: ShapeBaseline,
		describe: func(q bool) string {
			return fmt.Sprintf("%d plain River noop jobs (InsertManyFast), no flow", size(q, 10_000))
		},
		build: func(q bool) *workload {
			n := size(q, 10_000)
			return &workload{plainJobs: n, nodes: n}
		},
	},
	{
		name:     ShapeChain,
		describe: func(q bool) string { return fmt.Sprintf("1 run, %d nodes in a line", size(q, 1_000)) },
		build:    func(q bool) *workload { return single(chainSpec("chain", size(q, 1_000))) },
	},
	{
		name: ShapeFanout,
		describe: func(q bool) string {
			return fmt.Sprintf("1 run, 1 -> %d -> 1", size(q, 10_000))
		},
		build: func(q bool) *workload { return single(fanoutSpec("fanout", size(q, 10_000))) },
	},
	{
		name: ShapeFanout1k,
		describe: func(q bool) string {
			return fmt.Sprintf("1 run, 1 -> %d -> 1", size(q, 1_000))
		},
		build: func(q bool) *workload { return single(fanoutSpec("fanout1k", size(q, 1_000))) },
	},
	{
		name: ShapeFanoutKeyed,
		describe: func(q bool) string {
			return fmt.Sprintf("1 run, 1 -> %d -> 1, the middle nodes under %d concurrency keys of limit %d",
				size(q, 1_000), fanoutKeys, fanoutKeyLimit)
		},
		build: func(q bool) *workload { return single(fanoutKeyedSpec("fanout-keyed", size(q, 1_000))) },
	},
	{
		name: ShapeDiamonds,
		describe: func(q bool) string {
			return fmt.Sprintf("%d runs of a 5-node diamond (1 -> 3 -> 1), started by %d goroutines", size(q, 2_000), diamondStarters)
		},
		build: func(q bool) *workload { return diamonds(q, 1) },
	},
	{
		name: ShapeDiamondsBatched,
		describe: func(q bool) string {
			return fmt.Sprintf("the diamonds (%d runs), started %d per StartMany call by %d goroutines",
				size(q, 2_000), diamondBatch, diamondStarters)
		},
		build: func(q bool) *workload { return diamonds(q, diamondBatch) },
	},
	{
		name: ShapeLayered,
		describe: func(q bool) string {
			return fmt.Sprintf("1 run, %d nodes in %d layers, 1-3 parents each in the layer above (seed %d)",
				size(q, 100_000), layeredLayers, layeredSeed)
		},
		build: func(q bool) *workload {
			return single(layeredSpec("layered", layeredLayers, size(q, 100_000)/layeredLayers, layeredSeed))
		},
	},
	{
		name: ShapeDefaults,
		describe: func(q bool) string {
			return fmt.Sprintf("the chain (%d nodes) with River's default fetch settings", size(q, defaultsChainNodes))
		},
		build: func(q bool) *workload {
			w := single(chainSpec("defaults", size(q, defaultsChainNodes)))
			w.riverDefaults = true
			return w
		},
	},
}

// defaultsChainNodes is the defaults shape's chain length. It is the chain
// shape's length; each step waits out River's 100 ms fetch cooldown.
const defaultsChainNodes = 1_000

// diamondStarters is how many goroutines start the diamonds at once.
const diamondStarters = 8

// layeredLayers is the number of layers of the layered shape.
const layeredLayers = 20

func findShape(name string) (shape, bool) {
	for _, s := range shapes {
		if s.name == name {
			return s, true
		}
	}
	return shape{}, false
}

// Shape groups, accepted wherever a shape name is: GroupHierarchy names
// every hierarchy shape (both sizes), GroupAll every shape.
const (
	GroupHierarchy = "hierarchy"
	GroupAll       = "all"
)

// selectShapes returns the named shapes (or groups) in measuring order, the
// default ones ([Shapes]) when names is empty, or an error naming an unknown
// one.
func selectShapes(names []string) ([]shape, error) {
	want := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		switch n {
		case GroupAll:
			for _, s := range shapes {
				want[s.name] = true
			}
			continue
		case GroupHierarchy:
			for _, s := range hierarchyShapes {
				want[s.name] = true
			}
			continue
		}
		if _, ok := findShape(n); !ok {
			return nil, fmt.Errorf("bench: unknown shape %q (shapes: %s; groups: %s, %s)",
				n, strings.Join(AllShapes(), ", "), GroupHierarchy, GroupAll)
		}
		want[n] = true
	}
	var out []shape
	for _, s := range shapes {
		if want[s.name] || (len(names) == 0 && !s.optIn) {
			out = append(out, s)
		}
	}
	return out, nil
}

func single(spec []byte, nodes int) *workload {
	return &workload{specs: [][]byte{spec}, nodes: nodes, starters: 1}
}

func noop(id string, deps ...string) flow.NodeSpec {
	return flow.NodeSpec{ID: id, Kind: "noop", Deps: deps}
}

func mustJSON(spec *flow.Spec) []byte {
	b, err := json.Marshal(spec)
	if err != nil {
		panic(err) // a flow.Spec of strings always encodes
	}
	return b
}

// chainSpec is n nodes in a line: c0 -> c1 -> ... -> c(n-1).
func chainSpec(name string, n int) ([]byte, int) {
	spec := &flow.Spec{Name: name, Nodes: make([]flow.NodeSpec, 0, n)}
	for i := range n {
		if i == 0 {
			spec.Nodes = append(spec.Nodes, noop("c0"))
			continue
		}
		spec.Nodes = append(spec.Nodes, noop(fmt.Sprintf("c%d", i), fmt.Sprintf("c%d", i-1)))
	}
	return mustJSON(spec), n
}

// fanoutSpec is src -> width nodes -> sink.
func fanoutSpec(name string, width int) ([]byte, int) {
	return fanoutSpecWith(name, width, nil)
}

// fanoutSpecWith is fanoutSpec with middle node i passed to mid (when not
// nil) before it is added.
func fanoutSpecWith(name string, width int, mid func(i int, n *flow.NodeSpec)) ([]byte, int) {
	spec := &flow.Spec{Name: name, Nodes: make([]flow.NodeSpec, 0, width+2)}
	spec.Nodes = append(spec.Nodes, noop("src"))
	mids := make([]string, width)
	for i := range width {
		mids[i] = fmt.Sprintf("m%d", i)
		n := noop(mids[i], "src")
		if mid != nil {
			mid(i, &n)
		}
		spec.Nodes = append(spec.Nodes, n)
	}
	spec.Nodes = append(spec.Nodes, noop("sink", mids...))
	return mustJSON(spec), width + 2
}

// fanoutKeys and fanoutKeyLimit are the fanout-keyed shape's concurrency:
// middle node i has key "bench-k(i mod fanoutKeys)".
const (
	fanoutKeys     = 4
	fanoutKeyLimit = 10
)

// fanoutKeyedSpec is fanoutSpec with a concurrency key on each middle node.
func fanoutKeyedSpec(name string, width int) ([]byte, int) {
	return fanoutSpecWith(name, width, func(i int, n *flow.NodeSpec) {
		n.Concurrency = &flow.Concurrency{Key: fmt.Sprintf("bench-k%d", i%fanoutKeys), Limit: fanoutKeyLimit}
	})
}

// diamondSpec is a -> {b, c, d} -> e.
func diamondSpec() ([]byte, int) {
	spec := &flow.Spec{Name: "diamond", Nodes: []flow.NodeSpec{
		noop("a"),
		noop("b", "a"),
		noop("c", "a"),
		noop("d", "a"),
		noop("e", "b", "c", "d"),
	}}
	return mustJSON(spec), len(spec.Nodes)
}

// layeredNodes builds layers*width nodes; every node below the first layer
// depends on 1 to 3 distinct nodes of the layer above, drawn from a PCG
// generator seeded with seed (the same DAG on every run).
func layeredNodes(layers, width int, seed uint64) []flow.NodeSpec {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	id := func(l, i int) string { return fmt.Sprintf("l%d_%d", l, i) }
	nodes := make([]flow.NodeSpec, 0, layers*width)
	for l := range layers {
		for i := range width {
			if l == 0 {
				nodes = append(nodes, noop(id(l, i)))
				continue
			}
			k := min(1+rng.IntN(3), width)
			picked := make([]int, 0, k)
			for len(picked) < k {
				p := rng.IntN(width)
				dup := false
				for _, q := range picked {
					dup = dup || q == p
				}
				if !dup {
					picked = append(picked, p)
				}
			}
			deps := make([]string, k)
			for j, p := range picked {
				deps[j] = id(l-1, p)
			}
			nodes = append(nodes, noop(id(l, i), deps...))
		}
	}
	return nodes
}

func layeredSpec(name string, layers, width int, seed uint64) ([]byte, int) {
	nodes := layeredNodes(layers, width, seed)
	return mustJSON(&flow.Spec{Name: name, Nodes: nodes}), len(nodes)
}

// diamonds is the diamonds workload, started batch runs per call.
func diamonds(quick bool, batch int) *workload {
	spec, n := diamondSpec()
	w := &workload{starters: diamondStarters, batch: batch}
	for range size(quick, 2_000) {
		w.specs = append(w.specs, spec)
		w.nodes += n
	}
	return w
}
