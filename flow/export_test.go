package flow

import "context"

// Waiters is how many calls of Wait and WaitMany are registered with c's
// listener, for tests that need every waiter in place before they act.
func Waiters(c *Client) int {
	c.listener.mu.Lock()
	defer c.listener.mu.Unlock()
	return c.listener.count
}

// Kill stops f the way a killed process stops: its heartbeats end and its
// session's connection closes (shared with River's LISTEN, that one is then
// opened again, without the lock), while flow.worker still says it runs.
func Kill(f *Fleet) {
	f.cancel()
	<-f.done
	f.session.closeConn(context.Background())
}

// RegisteredKinds is registeredKinds, for the test that pins it to River.
var RegisteredKinds = registeredKinds
