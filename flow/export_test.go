package flow

// Waiters is how many calls of Wait and WaitMany are registered with c's
// listener, for tests that need every waiter in place before they act.
func Waiters(c *Client) int {
	c.listener.mu.Lock()
	defer c.listener.mu.Unlock()
	return c.listener.count
}
