package flow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// Spec is a workflow spec: exactly the JSON document that the SQL function
// flow.start takes. See the README's "Workflow spec" for every field.
type Spec struct {
	// Name is a label for the run, at most 200 characters (default "").
	Name string `json:"name,omitempty"`
	// Input is the run's input, visible to every node through [Inputs]
	// (default JSON null).
	Input json.RawMessage `json:"input,omitempty"`
	// Nodes are the DAG's nodes; at least one.
	Nodes []NodeSpec `json:"nodes"`
	// Key makes the start idempotent: starting again with the key of a run
	// that has not finished returns that run and inserts nothing (default
	// none).
	Key string `json:"key,omitempty"`
	// Queue, Priority, MaxAttempts and At are defaults for nodes that do not
	// set their own; unset, a node's own defaults apply ("default", 1, 25,
	// and no delay).
	Queue       string     `json:"queue,omitempty"`
	Priority    int        `json:"priority,omitempty"`
	MaxAttempts int        `json:"max_attempts,omitempty"`
	At          *time.Time `json:"at,omitempty"`
	// Output names the node whose output is the run's output. By default a
	// run's output is an object of its sink nodes' outputs keyed by node id.
	Output string `json:"output,omitempty"`
	// MaxDepth bounds how deep child runs may nest below a top run
	// (default 32). Top-level specs only.
	MaxDepth int `json:"max_depth,omitempty"`
	// MaxTreeNodes bounds the nodes of a top run's whole tree, child runs
	// and expansions included (default 1,000,000). Top-level specs only.
	MaxTreeNodes int `json:"max_tree_nodes,omitempty"`
	// TimeoutMS is the run's deadline, in milliseconds from its start
	// (default 0: none): past it the run and every run below it are
	// cancelled, with a reason that says so (README "Run deadlines"). On a
	// sub-workflow's spec it bounds that child run (each child run, for a
	// mapped workflow); a child run's own deadline cancels only it, and its
	// node fails. flow.Retry gives a retried run its whole budget again.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// Concurrency applies to each task node of the run (and each element of
	// its maps of tasks) that sets none of its own (default none). It is not
	// inherited by sub-workflows: give their specs their own.
	Concurrency *Concurrency `json:"concurrency,omitempty"`
}

// Concurrency caps how many nodes sharing a key run at once across the whole
// fleet (README "Concurrency keys"). A node over the cap waits pending until
// a node of its key finishes; waiting nodes start oldest first.
type Concurrency struct {
	// Key names what is shared: the key itself, or, when it starts with
	// "$", a SQL/JSON path evaluated when the node is inserted over
	// {"input": the run's input, "args": the node's args, "item": its map
	// element}, whose first value (a string or a number) is the key, such as
	// "$.input.tenant" (a map's elements see the input of the map node's
	// run). 1 to 200 characters.
	Key string `json:"key"`
	// Limit is how many nodes with the key may hold a slot at once, from 1
	// to 100000. A node is admitted while fewer than its own Limit hold one.
	Limit int `json:"limit"`
}

// NodeSpec is one node of a [Spec].
type NodeSpec struct {
	// ID names the node within its run: 1 to 128 of A-Z a-z 0-9 _ . : -
	ID string `json:"id"`
	// Kind is the River job kind that works the node. A node has a kind, a
	// Workflow or a Wait, one of them.
	Kind string `json:"kind,omitempty"`
	// Workflow makes the node a sub-workflow (default none): when its
	// parents complete, it starts a child run of this spec, and completes
	// when that run completes, with the child run's output as its output.
	// The child run's input is Workflow.Input, or else the node's own inputs
	// ({"input", "parents"}).
	Workflow *Spec `json:"workflow,omitempty"`
	// Map (default none) makes the node run once per element of the output
	// array of the parent node named here (a dependency, implied): one job of Kind per
	// element (the element is [NodeInputs].Item), or one child run of
	// Workflow per element (the element is its input). The node's output is
	// the array of results in element order; [] for an empty array. A parent
	// output that is not an array fails the node.
	Map string `json:"map,omitempty"`
	// Args are the job's args (a JSON object). Defaults to {}.
	Args json.RawMessage `json:"args,omitempty"`
	// Deps are the ids of the nodes this node waits for (default none: a
	// root, runnable at once).
	Deps []string `json:"deps,omitempty"`
	// Queue is the River queue. Defaults to "default".
	Queue string `json:"queue,omitempty"`
	// Priority is River's priority, 1 (first) to 4. Defaults to 1.
	Priority int `json:"priority,omitempty"`
	// MaxAttempts is River's attempt budget. Defaults to 25.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// At delays the node: it does not start before this time (default: no
	// delay).
	At *time.Time `json:"at,omitempty"`
	// TimeoutMS bounds each attempt: past it the node's context is
	// cancelled and the attempt fails. Zero means River's job timeout.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// Trigger is when the node runs, from how its parents finished
	// (default "" = [TriggerAllSuccess]); only for a node with parents.
	Trigger TriggerRule `json:"trigger,omitempty"`
	// If is a condition checked when the node's trigger rule lets it run
	// (default none): a SQL/JSON path predicate over the node's inputs
	// ({"input", "parents", "states"}, as [NodeInputs]), such as
	// `$.parents.scan.issues > 0`; false (or not a boolean) skips the node.
	// Only for a node with parents.
	If string `json:"if,omitempty"`
	// Wait makes the node a wait node (default none): it runs no work and,
	// once released, waits for a signal ([Client.Signal]) whose payload
	// becomes its output, or for its timeout. A wait node has no Kind, Args,
	// Workflow, Map, At, MaxAttempts or TimeoutMS. See [WaitSpec].
	Wait *WaitSpec `json:"wait,omitempty"`
	// Concurrency caps how many nodes with the same key run at once across
	// the fleet (default: the run's [Spec].Concurrency, else none). Tasks
	// and maps of tasks (for each element) only.
	Concurrency *Concurrency `json:"concurrency,omitempty"`
}

// TriggerRule says when a node runs, from how its parents finished. A node
// whose rule can no longer be met is skipped ([NodeStateSkipped]), or
// cancelled when a parent failed under all_success or none_failed.
type TriggerRule string

// Trigger rules (README "Trigger rules and conditions").
const (
	// TriggerAllSuccess runs the node once every parent completed; a
	// failed parent cancels it, a skipped one skips it. The default.
	TriggerAllSuccess TriggerRule = "all_success"
	// TriggerAllDone runs the node once every parent finished, however:
	// cleanup and report nodes.
	TriggerAllDone TriggerRule = "all_done"
	// TriggerOneFailed runs the node as soon as one parent failed
	// (alerting); it is skipped once every parent finished and none failed.
	TriggerOneFailed TriggerRule = "one_failed"
	// TriggerNoneFailed runs the node once every parent completed or was
	// skipped; a failed parent cancels it.
	TriggerNoneFailed TriggerRule = "none_failed"
)

// Spec returns s itself, so that a *Spec can be passed wherever a
// [Specifier] is taken.
func (s *Spec) Spec() (*Spec, error) { return s, nil }

// Specifier is anything that yields a spec: a *[Workflow], a *[Spec] or a
// [JSONSpec].
type Specifier interface {
	Spec() (*Spec, error)
}

// JSONSpec is a workflow spec given as JSON text, the document `SELECT
// flow.start(spec)` takes. [Client.Start], [Client.StartMany] and [Expand]
// send it to the database as it is, unparsed by Go, so that the database's
// validation (unknown keys, types, limits) judges exactly what was given, as
// it does for the SQL door:
//
//	runID, err := client.Start(ctx, flow.JSONSpec(specFromAFile))
type JSONSpec []byte

// Spec decodes the JSON into a *[Spec], rejecting keys that Spec does not
// have. Starting a JSONSpec does not call it; it serves where a decoded spec
// is needed, such as nesting the spec with [Workflow.AddWorkflow].
func (j JSONSpec) Spec() (*Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var spec Spec
	if err := dec.Decode(&spec); err != nil {
		return nil, &SpecError{Problem: "decoding JSON: " + err.Error()}
	}
	if dec.More() {
		return nil, &SpecError{Problem: "decoding JSON: more than one value"}
	}
	return &spec, nil
}

// Workflow builds a spec from River JobArgs, with dependencies given by
// reference. A node can only depend on nodes added before it, so a built
// workflow has no cycle.
type Workflow struct {
	spec Spec
	err  error
	ids  map[string]bool
}

// New starts a workflow with the given run name ("" for none), with no
// input, no key and no nodes.
func New(name string) *Workflow {
	return &Workflow{spec: Spec{Name: name}, ids: map[string]bool{}}
}

// Input sets the run's input (any JSON-encodable value; default JSON null).
func (w *Workflow) Input(input any) *Workflow {
	b, err := json.Marshal(input)
	if err != nil {
		w.fail(fmt.Errorf("run input: %w", err))
		return w
	}
	w.spec.Input = b
	return w
}

// Output makes node n's output the run's output (see [Spec].Output).
func (w *Workflow) Output(n *Node) *Workflow {
	if n != nil {
		w.spec.Output = n.id
	}
	return w
}

// Key sets the run's idempotency key (see [Spec].Key).
func (w *Workflow) Key(key string) *Workflow {
	w.spec.Key = key
	return w
}

// Timeout gives the run a deadline d after its start (default: none): past
// it the run and its child runs are cancelled, with a reason naming the
// deadline (see [Spec].TimeoutMS). Nested with [Workflow.AddWorkflow], it is
// the child run's own deadline. d must be at least a millisecond, counted
// in whole milliseconds.
func (w *Workflow) Timeout(d time.Duration) *Workflow {
	if d < time.Millisecond {
		w.fail(fmt.Errorf("run timeout %s: must be at least 1ms", d))
		return w
	}
	w.spec.TimeoutMS = d.Milliseconds()
	return w
}

// Concurrency gives every task node of the run that sets none of its own a
// concurrency key and limit (see [Spec].Concurrency and [WithConcurrency]).
func (w *Workflow) Concurrency(key string, limit int) *Workflow {
	w.spec.Concurrency = &Concurrency{Key: key, Limit: limit}
	return w
}

// Node is a reference to a node added to a [Workflow], for use in [After].
type Node struct {
	id string
	w  *Workflow
}

// ID is the node's id.
func (n *Node) ID() string { return n.id }

// NodeOption changes how a node is added.
type NodeOption func(*NodeSpec)

// After makes the node wait for the given nodes (without it, a node is a
// root and runs at once).
func After(parents ...*Node) NodeOption {
	return func(ns *NodeSpec) {
		for _, p := range parents {
			if p != nil {
				ns.Deps = append(ns.Deps, p.id)
			}
		}
	}
}

// WithQueue sets the node's River queue (default "default", or the args'
// InsertOpts).
func WithQueue(queue string) NodeOption { return func(ns *NodeSpec) { ns.Queue = queue } }

// WithPriority sets the node's River priority, 1 to 4 (default 1).
func WithPriority(priority int) NodeOption { return func(ns *NodeSpec) { ns.Priority = priority } }

// WithMaxAttempts sets the node's attempt budget (default 25).
func WithMaxAttempts(n int) NodeOption { return func(ns *NodeSpec) { ns.MaxAttempts = n } }

// WithTimeout bounds each attempt of the node: past d its context is
// cancelled and the attempt fails (default River's job timeout, 1 minute
// unless river.Config.JobTimeout says otherwise).
func WithTimeout(d time.Duration) NodeOption {
	return func(ns *NodeSpec) { ns.TimeoutMS = d.Milliseconds() }
}

// WithTrigger sets when the node runs, from how its parents finished
// (default [TriggerAllSuccess]).
func WithTrigger(rule TriggerRule) NodeOption { return func(ns *NodeSpec) { ns.Trigger = rule } }

// WithIf makes the node run only if cond, a SQL/JSON path predicate over its
// inputs, holds when its trigger rule lets it run (see [NodeSpec].If);
// otherwise it is skipped.
func WithIf(cond string) NodeOption { return func(ns *NodeSpec) { ns.If = cond } }

// WithConcurrency lets at most limit nodes with key run at once across the
// fleet (default: the run's, else no cap); key is the key itself or a JSON
// path starting with "$" (see [Concurrency]). For a map of tasks it applies
// to each element.
func WithConcurrency(key string, limit int) NodeOption {
	return func(ns *NodeSpec) { ns.Concurrency = &Concurrency{Key: key, Limit: limit} }
}

// WithAt delays the node until t (default: no delay).
func WithAt(t time.Time) NodeOption {
	return func(ns *NodeSpec) { t := t; ns.At = &t }
}

// Add adds a node worked by args' kind. Queue, priority and max attempts come
// from the args' InsertOpts (river.JobArgsWithInsertOpts) when it has them,
// then from opts.
func (w *Workflow) Add(id string, args river.JobArgs, opts ...NodeOption) *Node {
	node := &Node{id: id, w: w}
	if args == nil {
		w.fail(fmt.Errorf("node %q: args are nil", id))
		return node
	}
	raw, err := json.Marshal(args)
	if err != nil {
		w.fail(fmt.Errorf("node %q: encoding args: %w", id, err))
		return node
	}
	ns := NodeSpec{ID: id, Kind: args.Kind(), Args: raw}
	if withOpts, ok := args.(river.JobArgsWithInsertOpts); ok {
		io := withOpts.InsertOpts()
		ns.Queue, ns.Priority, ns.MaxAttempts = io.Queue, io.Priority, io.MaxAttempts
		if !io.ScheduledAt.IsZero() {
			at := io.ScheduledAt
			ns.At = &at
		}
	}
	w.addNode(ns, opts)
	return node
}

// AddWorkflow adds a sub-workflow node: once its parents complete it runs
// sub as a child run, and completes with that run's output (see
// [NodeSpec].Workflow). sub may itself hold sub-workflows.
func (w *Workflow) AddWorkflow(id string, sub Specifier, opts ...NodeOption) *Node {
	node := &Node{id: id, w: w}
	if sub == nil {
		w.fail(fmt.Errorf("node %q: workflow is nil", id))
		return node
	}
	spec, err := sub.Spec()
	if err != nil {
		w.fail(fmt.Errorf("node %q: workflow: %w", id, err))
		return node
	}
	w.addNode(NodeSpec{ID: id, Workflow: spec}, opts)
	return node
}

// AddMap adds a node that runs args' kind once per element of over's output
// array, in parallel, each job reading its element from [NodeInputs].Item;
// its output is the array of their outputs in element order (see
// [NodeSpec].Map). args are every element job's args.
func (w *Workflow) AddMap(id string, over *Node, args river.JobArgs, opts ...NodeOption) *Node {
	node := w.Add(id, args, opts...)
	if over == nil {
		w.fail(fmt.Errorf("node %q: map over a nil node", id))
		return node
	}
	if !w.ids[over.id] || over.w != w {
		w.fail(fmt.Errorf("node %q: maps over %q, which is not in this workflow (add it first)", id, over.id))
	}
	if len(w.spec.Nodes) > 0 && w.spec.Nodes[len(w.spec.Nodes)-1].ID == id {
		w.spec.Nodes[len(w.spec.Nodes)-1].Map = over.id
	}
	return node
}

// AddMapWorkflow adds a node that runs sub as one child run per element of
// over's output array (the element is each child run's input); its output is
// the array of their outputs in element order.
func (w *Workflow) AddMapWorkflow(id string, over *Node, sub Specifier, opts ...NodeOption) *Node {
	node := w.AddWorkflow(id, sub, opts...)
	if over == nil {
		w.fail(fmt.Errorf("node %q: map over a nil node", id))
		return node
	}
	if !w.ids[over.id] || over.w != w {
		w.fail(fmt.Errorf("node %q: maps over %q, which is not in this workflow (add it first)", id, over.id))
	}
	if len(w.spec.Nodes) > 0 && w.spec.Nodes[len(w.spec.Nodes)-1].ID == id {
		w.spec.Nodes[len(w.spec.Nodes)-1].Map = over.id
	}
	return node
}

func (w *Workflow) addNode(ns NodeSpec, opts []NodeOption) {
	for _, opt := range opts {
		opt(&ns)
	}
	for _, dep := range ns.Deps {
		if !w.ids[dep] {
			w.fail(fmt.Errorf("node %q: depends on %q, which is not in this workflow (add parents first)", ns.ID, dep))
		}
	}
	w.ids[ns.ID] = true
	w.spec.Nodes = append(w.spec.Nodes, ns)
}

func (w *Workflow) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// Spec returns the built spec, or the first error met while building.
func (w *Workflow) Spec() (*Spec, error) {
	if w.err != nil {
		return nil, &SpecError{Problem: w.err.Error()}
	}
	return &w.spec, nil
}
