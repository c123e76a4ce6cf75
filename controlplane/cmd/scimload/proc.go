package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100

type proc struct {
	pid, ppid int
	comm      string
	cpu       float64 // user+system seconds
}

// procs reads every process's parent, name and CPU time from /proc.
func procs() []proc {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	out := make([]proc, 0, len(dirs))
	for _, path := range dirs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(s[:open]))
		f := strings.Fields(s[close+1:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		utime, _ := strconv.ParseFloat(f[11], 64)
		stime, _ := strconv.ParseFloat(f[12], 64)
		out = append(out, proc{pid: pid, ppid: ppid, comm: s[open+1 : close], cpu: (utime + stime) / clockTicks})
	}
	return out
}

type cpu struct {
	self, controlplane, workers, postgres float64
}

// cpuSnapshot sums CPU seconds of this process, the control plane, its
// worker children and its embedded postgres with that server's children.
func cpuSnapshot(controlplane int) cpu {
	all := procs()
	byPID := make(map[int]proc, len(all))
	for _, p := range all {
		byPID[p.pid] = p
	}
	var c cpu
	c.self = byPID[os.Getpid()].cpu
	c.controlplane = byPID[controlplane].cpu
	for _, p := range all {
		switch {
		case p.ppid == controlplane && p.comm == "worker":
			c.workers += p.cpu
		case p.ppid == controlplane && p.comm == "postgres":
			c.postgres += p.cpu
		case byPID[p.ppid].ppid == controlplane && byPID[p.ppid].comm == "postgres":
			c.postgres += p.cpu
		}
	}
	return c
}

// rssOf returns each live pid's resident set size in KiB.
func rssOf(pids []int) []int {
	var out []int
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				out = append(out, kb)
			}
		}
	}
	return out
}
