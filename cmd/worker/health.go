package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthCommand probes a worker's HTTP server, for container health checks
// where the image has no shell nor curl (the distroless image).
func (a *app) healthCommand() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health [URL]",
		Short: "Probe a worker's /readyz (or any URL): exit 0 when it answers 2xx, 1 otherwise",
		Long: `health sends GET to URL (default http://127.0.0.1:8080/readyz, the /readyz of a
worker run with --http-addr 127.0.0.1:8080) and exits 0 when the answer is 2xx,
1 otherwise, printing the answer's first line. It needs no database: it is the
health check of the distroless image, which has no shell nor curl.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := "http://127.0.0.1:8080/readyz"
			if len(args) == 1 {
				target = args[0]
			}
			u, err := url.Parse(target)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usageError(cmd, fmt.Errorf("URL %q: want http://HOST:PORT/PATH", target))
			}
			if timeout <= 0 {
				return usageError(cmd, fmt.Errorf("--timeout must be positive"))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("health: %w", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
			fmt.Fprintf(cmd.OutOrStdout(), "%d %s\n", resp.StatusCode, line)
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}
