package fleettest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// workerProc is one `worker run` process.
type workerProc struct {
	pid     int
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{}
	exitErr error
}

// stopTimeout bounds a worker's exit after SIGTERM.
const stopTimeout = 60 * time.Second

// startWorker starts a worker: through the pooler with the fleet's settings
// (pooled), or directly with worker run's defaults.
func (f *fleet) startWorker(ctx context.Context, pooled bool) (*workerProc, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	args := []string{"--database-url", f.directURL(), "--log-format", "json", "run"}
	if pooled {
		jobURL := f.pooledURL()
		if f.o.NoPooler {
			jobURL = f.directURL()
		}
		args = []string{"--database-url", jobURL, "--direct-database-url", f.directURL(),
			"--max-conns", strconv.Itoa(f.o.MaxConns), "--log-format", "json",
			"run", "--max-workers", strconv.Itoa(f.o.MaxWorkers)}
	}
	args = append(args, "--shutdown-timeout", "20s", "--run-retention", "0")
	p := &workerProc{done: make(chan struct{}), logPath: filepath.Join(f.o.Dir, fmt.Sprintf("worker-%02d.log", len(f.procs)))}
	var err error
	if p.logFile, err = os.Create(p.logPath); err != nil {
		return nil, err
	}
	p.cmd = exec.Command(f.binary, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.logFile, p.logFile
	if err := p.cmd.Start(); err != nil {
		p.logFile.Close()
		return nil, fmt.Errorf("starting a worker: %w", err)
	}
	p.pid = p.cmd.Process.Pid
	go func() {
		p.exitErr = p.cmd.Wait()
		p.logFile.Close()
		close(p.done)
	}()
	f.procs = append(f.procs, p)
	return p, nil
}

// stop sends SIGTERM and waits for a clean exit.
func (p *workerProc) stop() error {
	select {
	case <-p.done:
		return p.exitErr
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitErr
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("did not exit within %s of SIGTERM (killed)", stopTimeout)
	}
}

// growFleet starts pooled workers, ten at a time, until n run, and waits
// until all of them have joined the fleet.
func (f *fleet) growFleet(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		have := len(f.procs)
		f.mu.Unlock()
		if have >= n {
			return nil
		}
		batch := min(10, n-have)
		for range batch {
			if _, err := f.startWorker(ctx, true); err != nil {
				return err
			}
		}
		if err := f.waitJoined(ctx, have+batch); err != nil {
			return err
		}
	}
}

// waitJoined waits until n workers are alive in flow.workers, or one of
// them exited.
func (f *fleet) waitJoined(ctx context.Context, n int) error {
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var alive int
		err := f.admin.QueryRow(ctx, "SELECT count(*) FROM flow.workers WHERE state = 'alive'").Scan(&alive)
		if err == nil && alive >= n {
			return nil
		}
		f.mu.Lock()
		for _, p := range f.procs {
			select {
			case <-p.done:
				f.mu.Unlock()
				return fmt.Errorf("worker pid %d exited at start: %v\n%s", p.pid, p.exitErr, tail(p.logPath, 20))
			default:
			}
		}
		f.mu.Unlock()
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d workers joined the fleet within 2 minutes (err %v); logs in %s", alive, n, err, f.o.Dir)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// stopWorkers stops every running worker, all at once.
func (f *fleet) stopWorkers() {
	f.mu.Lock()
	procs := append([]*workerProc(nil), f.procs...)
	f.mu.Unlock()
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		if err := p.stop(); err != nil && p.exitErr == nil {
			p.exitErr = err
		}
	}
}

// connectionTrouble matches log messages about connections, the pool, the
// session or LISTEN.
var connectionTrouble = regexp.MustCompile(`(?i)connect|connection|pool|listen|session|liveness|EOF|refused|too many|timeout`)

// checkLog records, as violations, the error lines of a worker's log and
// its warnings about connections.
func (f *fleet) checkLog(p *workerProc) {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		f.report.Violations = append(f.report.Violations, fmt.Sprintf("worker pid %d: reading its log: %v", p.pid, err))
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var entry struct {
			Level   string `json:"level"`
			Message string `json:"message"`
			Error   string `json:"error"`
			Err     string `json:"err"`
		}
		if json.Unmarshal(sc.Bytes(), &entry) != nil {
			f.report.LogProblems = append(f.report.LogProblems, fmt.Sprintf("pid %d: not a log line: %s", p.pid, sc.Text()))
			continue
		}
		text := entry.Message + " " + entry.Error + " " + entry.Err
		if entry.Level == "error" || entry.Level == "fatal" || entry.Level == "panic" ||
			(entry.Level == "warn" && connectionTrouble.MatchString(text)) {
			f.report.LogProblems = append(f.report.LogProblems, fmt.Sprintf("pid %d: %s", p.pid, sc.Text()))
		}
	}
}

// cliResult is one finished invocation of the worker binary.
type cliResult struct {
	output []byte
	err    error
}

func (f *fleet) cli(ctx context.Context, args ...string) cliResult {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, f.binary, args...).CombinedOutput()
	return cliResult{output: out, err: err}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

var errShapeTimeout = errors.New("the shape did not finish in time")
