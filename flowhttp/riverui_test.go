package flowhttp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// River UI is served under /riverui/, and its API filters flow jobs by the
// tags flow.start gives them.
func TestRiverUIFiltersByRunTag(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.run(t, diamond)
	second := b.run(t, diamond)

	code, body := b.get(t, "/riverui/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "<html")
	code, _ = b.get(t, "/riverui/jobs")
	require.Equal(t, http.StatusOK, code, "River UI's own routes are served by its page")

	for _, run := range []int64{first.ID, second.ID} {
		code, body = b.get(t, fmt.Sprintf("/riverui/api/jobs?state=completed&tags=flow_run:%d", run))
		require.Equal(t, http.StatusOK, code, body)
		var list struct {
			Data []struct {
				ID   int64          `json:"id"`
				Tags []string       `json:"tags"`
				Meta map[string]any `json:"metadata"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &list))
		require.Len(t, list.Data, 4, "the run's four nodes, not the other run's")
		for _, j := range list.Data {
			require.Contains(t, j.Tags, fmt.Sprintf("flow_run:%d", run))
		}
	}
}
