package flowotel

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// A run's trace and its spans have IDs derived from the database, so that
// every worker, and the one that sends the run's span when it finishes, name
// them alike without storing them: the trace ID from the top run (its id
// and creation time, which no other run of any database shares in practice),
// a run's span ID from its id, a node attempt's span ID from its job id and
// attempt. A child node's links to its parents are then known from their
// job ids alone.

func traceIDOf(topRunID int64, topCreated time.Time) trace.TraceID {
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], uint64(topRunID))
	binary.BigEndian.PutUint64(b[8:], uint64(topCreated.UnixMicro()))
	copy(b[16:], "htdag.tr")
	sum := sha256.Sum256(b[:])
	var id trace.TraceID
	copy(id[:], sum[:16])
	return id
}

func spanIDOf(tid trace.TraceID, what byte, id int64, attempt int) trace.SpanID {
	var b [16 + 1 + 8 + 8]byte
	copy(b[:16], tid[:])
	b[16] = what
	binary.BigEndian.PutUint64(b[17:], uint64(id))
	binary.BigEndian.PutUint64(b[25:], uint64(attempt))
	sum := sha256.Sum256(b[:])
	var sid trace.SpanID
	copy(sid[:], sum[:8])
	if !sid.IsValid() {
		sid[7] = 1
	}
	return sid
}

// runSpanID is the span ID of run runID in trace tid.
func runSpanID(tid trace.TraceID, runID int64) trace.SpanID { return spanIDOf(tid, 'r', runID, 0) }

// nodeSpanID is the span ID of attempt attempt of the node whose job is jobID.
func nodeSpanID(tid trace.TraceID, jobID int64, attempt int) trace.SpanID {
	return spanIDOf(tid, 'n', jobID, attempt)
}

// remote is the span context of a span another process sends (or sent).
func remote(tid trace.TraceID, sid trace.SpanID) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
}

// wantedIDs are the IDs the next span started under a context should get;
// used once.
type wantedIDs struct {
	trace trace.TraceID
	span  trace.SpanID
	used  atomic.Bool
}

type wantedKey struct{}

func withWantedIDs(ctx context.Context, tid trace.TraceID, sid trace.SpanID) context.Context {
	return context.WithValue(ctx, wantedKey{}, &wantedIDs{trace: tid, span: sid})
}

func takeWanted(ctx context.Context) *wantedIDs {
	w, _ := ctx.Value(wantedKey{}).(*wantedIDs)
	if w == nil || !w.used.CompareAndSwap(false, true) {
		return nil
	}
	return w
}

// IDGenerator returns the ID generator a TracerProvider needs for htdag's
// traces ([NewTracerProvider] installs it): random IDs, except for the spans
// of runs and node attempts, which get the IDs derived from the database.
func IDGenerator() sdktrace.IDGenerator { return idGenerator{} }

type idGenerator struct{}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if w := takeWanted(ctx); w != nil {
		return w.trace, w.span
	}
	var tid trace.TraceID
	binary.BigEndian.PutUint64(tid[0:], rand.Uint64())
	binary.BigEndian.PutUint64(tid[8:], rand.Uint64()|1)
	return tid, randomSpanID()
}

func (idGenerator) NewSpanID(ctx context.Context, traceID trace.TraceID) trace.SpanID {
	if w := takeWanted(ctx); w != nil && w.trace == traceID {
		return w.span
	}
	return randomSpanID()
}

func randomSpanID() trace.SpanID {
	var sid trace.SpanID
	binary.BigEndian.PutUint64(sid[:], rand.Uint64()|1)
	return sid
}
