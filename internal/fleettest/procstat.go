package fleettest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat's times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// procStat is what the harness reads of a process in /proc/<pid>/stat.
type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime time.Duration
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime..cstime fields 14-17.
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	var n [5]int64
	for k, idx := range []int{1, 11, 12, 13, 14} {
		if n[k], err = strconv.ParseInt(f[idx], 10, 64); err != nil {
			return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
		}
	}
	return procStat{ppid: int(n[0]), utime: time.Duration(n[1]) * clockTick, stime: time.Duration(n[2]) * clockTick,
		cutime: time.Duration(n[3]) * clockTick, cstime: time.Duration(n[4]) * clockTick}, nil
}

// serverCPU is the CPU time the server whose main process is postmaster has
// used so far: the main process's own, its exited children's (cutime and
// cstime, counted once the main process has waited for them) and every live
// child's.
func serverCPU(postmaster int) (time.Duration, error) {
	pm, err := readProcStat(postmaster)
	if err != nil {
		return 0, err
	}
	total := pm.utime + pm.stime + pm.cutime + pm.cstime
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, err
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == postmaster {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil || st.ppid != postmaster {
			continue // gone meanwhile, or not the server's
		}
		total += st.utime + st.stime
	}
	return total, nil
}

// processesCPU is the CPU time the processes pids have used so far (one
// that has exited counts nothing).
func processesCPU(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		if st, err := readProcStat(pid); err == nil {
			total += st.utime + st.stime
		}
	}
	return total
}
