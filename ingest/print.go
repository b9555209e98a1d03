package ingest

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/htdag/htdag/internal/render"
)

// clean escapes text from the database or the file system (paths, names,
// errors) for a terminal: a file named with escape sequences must not paint
// on the screen of whoever reads the report.
var clean = render.Clean

// WriteReport prints what a run changed and a summary table by language, as
// `worker ingest --wait` does: failures are Progress.Failures, elapsed the
// run's wall time, and at most maxChanges changed files are listed (0: all).
func WriteReport(w io.Writer, r *Report, failures []string, elapsed time.Duration, maxChanges int) {
	fmt.Fprintf(w, "ingest run %d of %s (%s): %s in %s, flow run %d\n", r.Run, clean(r.Codebase), clean(r.Root), r.State,
		elapsed.Round(time.Millisecond), r.FlowRun)
	fmt.Fprintf(w, "%d files walked: %d added, %d modified, %d unchanged, %d removed, %d skipped\n",
		r.FilesPlanned, r.Added, r.Modified, r.Unchanged, r.Removed, r.Skipped)
	fmt.Fprintf(w, "lines +%d -%d, symbols +%d -%d\n", r.LinesAdded, r.LinesRemoved, r.SymbolsAdded, r.SymbolsRemoved)

	if r.PreviousRun == 0 {
		fmt.Fprintf(w, "\nfirst run of this codebase\n")
	} else {
		fmt.Fprintf(w, "\nchanges since run %d:", r.PreviousRun)
		if len(r.Changes) == 0 {
			fmt.Fprint(w, " none")
		}
		fmt.Fprintln(w)
	}
	if r.PreviousRun != 0 || len(r.Changes) <= maxChanges || maxChanges == 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for i, c := range r.Changes {
			if maxChanges > 0 && i == maxChanges {
				fmt.Fprintf(tw, "  ... and %d more\n", len(r.Changes)-maxChanges)
				break
			}
			mark := map[string]string{"added": "A", "modified": "M", "removed": "D"}[c.Status]
			syms := ""
			if len(c.SymbolsAdded) > 0 {
				syms += " +" + strings.Join(limitStrings(c.SymbolsAdded, 4), ", +")
			}
			if len(c.SymbolsRemoved) > 0 {
				syms += " -" + strings.Join(limitStrings(c.SymbolsRemoved, 4), ", -")
			}
			reason := ""
			if c.Status == "removed" && c.Reason != "" {
				reason = " (" + c.Reason + ")"
			}
			fmt.Fprintf(tw, "  %s %s%s\t+%d -%d lines\t%s\n", mark, clean(c.Path), clean(reason), c.LinesAdded, c.LinesRemoved, clean(strings.TrimSpace(syms)))
		}
		tw.Flush()
	}

	if len(r.SkipReasons) > 0 {
		var parts []string
		for _, s := range r.SkipReasons {
			parts = append(parts, fmt.Sprintf("%s %d", clean(s.Reason), s.Files))
		}
		fmt.Fprintf(w, "\nskipped: %s\n", strings.Join(parts, "; "))
	}
	if len(r.Pruned) > 0 {
		dirs := make([]string, 0, len(r.Pruned))
		for d := range r.Pruned {
			dirs = append(dirs, clean(d))
		}
		sort.Strings(dirs)
		fmt.Fprintf(w, "not entered: %s\n", strings.Join(limitStrings(dirs, 8), ", "))
	}
	if len(failures) > 0 {
		fmt.Fprintf(w, "\nfailed:\n")
		for _, f := range failures {
			fmt.Fprintf(w, "  %s\n", clean(f))
		}
	}

	fmt.Fprintln(w)
	rows := [][]string{{"LANGUAGE", "FILES", "LINES", "SYMBOLS"}}
	for _, l := range r.Languages {
		rows = append(rows, []string{clean(l.Language), fmt.Sprint(l.Files), fmt.Sprint(l.Lines), fmt.Sprint(l.Symbols)})
	}
	rows = append(rows, []string{"total", fmt.Sprint(r.Files), fmt.Sprint(r.Lines), fmt.Sprint(r.Symbols)})
	writeTable(w, rows)
}

// writeTable prints rows in columns, the first left-aligned and the others
// (numbers) right-aligned.
func writeTable(w io.Writer, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, row := range rows {
		var sb strings.Builder
		for i, c := range row {
			if i == 0 {
				fmt.Fprintf(&sb, "%-*s", widths[i], c)
			} else {
				fmt.Fprintf(&sb, "  %*s", widths[i], c)
			}
		}
		fmt.Fprintln(w, sb.String())
	}
}

// limitStrings returns at most n of s, with a "(N more)" last element.
func limitStrings(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string(nil), s[:n]...), fmt.Sprintf("(%d more)", len(s)-n))
}
