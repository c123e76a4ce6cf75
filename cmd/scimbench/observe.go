package main

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// observer watches the control plane's process tree through /proc: its
// worker children, the embedded postmaster and the postmaster's backends.
type observer struct {
	fs         procFS
	cp         int    // control plane pid
	pg         int    // postmaster pid, 0 if none was found
	workerComm string // comm of worker processes (the binary's name, at most 15 bytes)
	// ownUsers are the database users of the control plane's own
	// connections: postgres, and those of the connections it held before
	// any tenant existed (learnOwnBackends).
	ownUsers map[string]bool

	mu     sync.Mutex
	titles map[int]backendInfo // cache: a backend's user never changes
}

// commName is what /proc shows as comm for a binary: its base name cut to
// TASK_COMM_LEN-1 bytes.
func commName(base string) string {
	if len(base) > 15 {
		return base[:15]
	}
	return base
}

func newObserver(fs procFS, cp int, workerComm string) (*observer, error) {
	o := &observer{fs: fs, cp: cp, workerComm: workerComm, ownUsers: map[string]bool{"postgres": true}, titles: map[int]backendInfo{}}
	kids, err := fs.children(cp)
	if err != nil {
		return nil, err
	}
	for _, pid := range kids {
		if st, err := fs.stat(pid); err == nil && st.comm == "postgres" {
			o.pg = pid
		}
	}
	return o, nil
}

// learnOwnBackends runs before any tenant exists. It records the users of
// the client backends the control plane itself holds (the backend's client
// port is the local port of one of its sockets): it may connect under
// roles other than postgres.
// Backends that pre-started workers hold are not its own, nor are their
// users: counted as its own, a spare's backend would vanish from the
// baseline and the spare that replaces it would show up as a tenant's.
// It returns how many client backends are the control plane's.
func (o *observer) learnOwnBackends() (int, error) {
	ports, err := o.fs.tcpPorts(o.cp)
	if err != nil {
		return 0, fmt.Errorf("the control plane's sockets: %w", err)
	}
	bs := o.backends()
	for _, b := range bs {
		if b.kind == backendClient && b.port != 0 && ports[b.port] {
			o.ownUsers[b.user] = true
		}
	}
	n := 0
	for _, b := range bs {
		if b.kind == backendClient && o.ownUsers[b.user] {
			n++
		}
	}
	return n, nil
}

// backends classifies the postmaster's children, reading each title once.
func (o *observer) backends() map[int]backendInfo {
	out := map[int]backendInfo{}
	if o.pg == 0 {
		return out
	}
	// PostgreSQL forks a process per backend and never starts threads.
	kids, err := o.fs.mainThreadChildren(o.pg)
	if err != nil {
		return out
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, pid := range kids {
		info, ok := o.titles[pid]
		if !ok {
			title, err := o.fs.cmdline(pid)
			if err != nil {
				continue // exited
			}
			info = classifyBackend(title)
			if info.kind != backendUnknown {
				o.titles[pid] = info
			}
		}
		out[pid] = info
	}
	for pid := range o.titles {
		if _, ok := out[pid]; !ok {
			delete(o.titles, pid) // gone; its pid may be reused
		}
	}
	return out
}

// connCount is the number of client backends, and of those that are not
// the control plane's own, whose pids it adds to seen.
func (o *observer) connCount(seen map[int]bool) (all, tenants int) {
	for pid, b := range o.backends() {
		if b.kind != backendClient {
			continue
		}
		all++
		if !o.ownUsers[b.user] {
			tenants++
			if seen != nil {
				seen[pid] = true
			}
		}
	}
	return all, tenants
}

// workers lists the control plane's live worker children.
func (o *observer) workers() []int {
	kids, _ := o.fs.children(o.cp)
	var out []int
	for _, pid := range kids {
		if st, err := o.fs.stat(pid); err == nil && st.comm == o.workerComm {
			out = append(out, pid)
		}
	}
	return out
}

// cpuSample is cumulative CPU seconds per party at one instant.
type cpuSample struct {
	Client       float64 `json:"client"`
	ControlPlane float64 `json:"controlplane"`
	Workers      float64 `json:"workers"`
	Postgres     float64 `json:"postgres"`
	Other        float64 `json:"other"` // other children of the control plane
	// Machine is every CPU's busy time (/proc/stat), so that what the
	// parties above did not use shows how busy the rest of the machine was.
	Machine float64 `json:"machine"`
}

func (c cpuSample) sub(d cpuSample) cpuSample {
	return cpuSample{c.Client - d.Client, c.ControlPlane - d.ControlPlane, c.Workers - d.Workers, c.Postgres - d.Postgres, c.Other - d.Other, c.Machine - d.Machine}
}

func (c cpuSample) add(d cpuSample) cpuSample {
	return cpuSample{c.Client + d.Client, c.ControlPlane + d.ControlPlane, c.Workers + d.Workers, c.Postgres + d.Postgres, c.Other + d.Other, c.Machine + d.Machine}
}

// total is the measured processes' CPU (Machine is not one of them).
func (c cpuSample) total() float64 {
	return c.Client + c.ControlPlane + c.Workers + c.Postgres + c.Other
}

// cpu reads every party's cumulative CPU. Workers are the live worker
// children plus the control plane's reaped children (workers that exited:
// the postmaster is alive until the end, so its time is not there).
// PostgreSQL is the postmaster with its reaped children (exited backends)
// plus its live children.
func (o *observer) cpu() cpuSample {
	var s cpuSample
	s.Machine, _ = o.fs.busy()
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.Client = tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
	}
	if st, err := o.fs.stat(o.cp); err == nil {
		s.ControlPlane = st.self()
		s.Workers = st.children()
	}
	kids, _ := o.fs.children(o.cp)
	for _, pid := range kids {
		st, err := o.fs.stat(pid)
		if err != nil {
			continue
		}
		switch {
		case pid == o.pg:
			s.Postgres += st.self() + st.children()
		case st.comm == o.workerComm:
			s.Workers += st.self()
		default:
			s.Other += st.self()
		}
	}
	if o.pg != 0 {
		backends, _ := o.fs.mainThreadChildren(o.pg)
		for _, pid := range backends {
			if st, err := o.fs.stat(pid); err == nil {
				s.Postgres += st.self()
			}
		}
	}
	return s
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// memory is the PSS in KiB of the live workers, of the client backends
// that are not the control plane's own and of those that are.
type memory struct {
	Workers        int   `json:"workers"`
	WorkerKiB      int64 `json:"worker_pss_kib"`
	Backends       int   `json:"backends"`
	BackendKiB     int64 `json:"backend_pss_kib"`
	OwnBackends    int   `json:"own_backends"`
	OwnBackendsKiB int64 `json:"own_backend_pss_kib"`
	// OtherKiB is the control plane's other children (a pooler, say).
	OtherKiB int64 `json:"other_children_pss_kib"`
}

func (o *observer) memory() memory {
	var m memory
	kids, _ := o.fs.children(o.cp)
	for _, pid := range kids {
		st, err := o.fs.stat(pid)
		if err != nil || pid == o.pg {
			continue
		}
		kib, err := o.fs.pss(pid)
		if err != nil {
			continue
		}
		if st.comm == o.workerComm {
			m.Workers++
			m.WorkerKiB += kib
		} else {
			m.OtherKiB += kib
		}
	}
	for pid, b := range o.backends() {
		if b.kind != backendClient {
			continue
		}
		kib, err := o.fs.pss(pid)
		if err != nil {
			continue
		}
		if o.ownUsers[b.user] {
			m.OwnBackends++
			m.OwnBackendsKiB += kib
		} else {
			m.Backends++
			m.BackendKiB += kib
		}
	}
	return m
}

// peaks samples the number of database connections and workers every
// interval until ctx is done.
type peaks struct {
	observer *observer
	done     chan struct{}
	cancel   context.CancelFunc

	mu                 sync.Mutex
	conns, tenantConns int
	workers            int
	samples            int
	// first holds the tenants' backends of the first sample, seen every
	// one since: the connections opened meanwhile are those not in first.
	first, seen map[int]bool
}

func (o *observer) samplePeaks(ctx context.Context, interval time.Duration) *peaks {
	ctx, cancel := context.WithCancel(ctx)
	p := &peaks{observer: o, done: make(chan struct{}), cancel: cancel, seen: map[int]bool{}}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			p.sample()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *peaks) sample() {
	p.mu.Lock()
	seen := p.seen
	p.mu.Unlock()
	now := map[int]bool{}
	all, tenants := p.observer.connCount(now)
	p.mu.Lock()
	if p.first == nil {
		p.first = now
	}
	for pid := range now {
		seen[pid] = true
	}
	n := p.samples
	p.samples++
	p.conns = max(p.conns, all)
	p.tenantConns = max(p.tenantConns, tenants)
	p.mu.Unlock()
	// Workers are counted one sample in ten: walking the control plane's
	// threads and children is the sampler's main cost, and it is the
	// client's CPU.
	if n%10 == 0 {
		workers := len(p.observer.workers())
		p.mu.Lock()
		p.workers = max(p.workers, workers)
		p.mu.Unlock()
	}
}

// stop ends the sampling and returns the peaks.
func (p *peaks) stop() peakFigures {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	opened := 0
	for pid := range p.seen {
		if !p.first[pid] {
			opened++
		}
	}
	return peakFigures{Conns: p.conns, TenantConns: p.tenantConns, Workers: p.workers, Samples: p.samples, Opened: opened}
}

// peakFigures is what the sampler saw at most.
type peakFigures struct {
	Conns       int `json:"conns"`
	TenantConns int `json:"tenant_conns"`
	Workers     int `json:"workers"` // sampled every tenth time
	Samples     int `json:"samples"`
	// Opened counts the tenants' database connections seen opened during
	// the window (sampled: a connection opened and closed between two
	// samples is missed).
	Opened int `json:"opened"`
}
