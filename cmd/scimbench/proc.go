package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100

// procFS reads process facts from a /proc tree; tests point root at
// fixture files.
type procFS struct{ root string }

func (p procFS) path(pid int, parts ...string) string {
	return filepath.Join(append([]string{p.root, strconv.Itoa(pid)}, parts...)...)
}

// procStat is the part of /proc/PID/stat the bench reads. CPU figures are
// seconds; the c* ones are the CPU of children that exited and were reaped.
type procStat struct {
	pid, ppid                    int
	comm                         string
	utime, stime, cutime, cstime float64
}

func (s procStat) self() float64     { return s.utime + s.stime }
func (s procStat) children() float64 { return s.cutime + s.cstime }

// parseStat reads one /proc/PID/stat line. The command name sits in
// parentheses and may hold spaces or parentheses itself, so the fields are
// counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return procStat{}, fmt.Errorf("stat %q: no command name", truncate(s))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return procStat{}, fmt.Errorf("stat %q: pid: %w", truncate(s), err)
	}
	f := strings.Fields(s[closing+1:])
	// f[0] is the state; utime..cstime are fields 14..17 of proc(5).
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("stat %q: %d fields", truncate(s), len(f))
	}
	st := procStat{pid: pid, comm: s[open+1 : closing]}
	if st.ppid, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, fmt.Errorf("stat %q: ppid: %w", truncate(s), err)
	}
	for i, dst := range []*float64{&st.utime, &st.stime, &st.cutime, &st.cstime} {
		v, err := strconv.ParseInt(f[11+i], 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("stat %q: field %d: %w", truncate(s), 14+i, err)
		}
		*dst = float64(v) / clockTicks
	}
	return st, nil
}

func (p procFS) stat(pid int) (procStat, error) {
	b, err := os.ReadFile(p.path(pid, "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// children lists pid's child processes from /proc/PID/task/*/children (each
// thread lists the children it forked). Kernels without
// CONFIG_PROC_CHILDREN lack those files; then every process's stat is
// scanned for its parent.
func (p procFS) children(pid int) ([]int, error) {
	files, err := filepath.Glob(filepath.Join(p.root, strconv.Itoa(pid), "task", "*", "children"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		if _, err := os.Stat(p.path(pid)); err != nil {
			return nil, err
		}
		return p.childrenByScan(pid)
	}
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited
		}
		out, err = appendPIDs(out, b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	return out, nil
}

// mainThreadChildren lists the children of a single-threaded process (the
// postmaster): one read instead of a directory walk, for frequent sampling.
func (p procFS) mainThreadChildren(pid int) ([]int, error) {
	b, err := os.ReadFile(p.path(pid, "task", strconv.Itoa(pid), "children"))
	if err != nil {
		return p.children(pid)
	}
	return appendPIDs(nil, b)
}

func appendPIDs(out []int, b []byte) ([]int, error) {
	for _, f := range bytes.Fields(b) {
		pid, err := strconv.Atoi(string(f))
		if err != nil {
			return nil, err
		}
		out = append(out, pid)
	}
	return out, nil
}

func (p procFS) childrenByScan(pid int) ([]int, error) {
	stats, err := filepath.Glob(filepath.Join(p.root, "[0-9]*", "stat"))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if st, err := parseStat(b); err == nil && st.ppid == pid {
			out = append(out, st.pid)
		}
	}
	return out, nil
}

// cmdline is the process title: argv joined by spaces. PostgreSQL
// overwrites its argv with the title and pads it with NULs.
func (p procFS) cmdline(pid int) (string, error) {
	b, err := os.ReadFile(p.path(pid, "cmdline"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")), nil
}

// pss is the proportional set size in KiB from /proc/PID/smaps_rollup:
// pages shared by n processes count 1/n in each.
func (p procFS) pss(pid int) (int64, error) {
	b, err := os.ReadFile(p.path(pid, "smaps_rollup"))
	if err != nil {
		return 0, err
	}
	return parsePSS(b)
}

func parsePSS(b []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Pss:")
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("smaps_rollup Pss %q: %w", rest, err)
		}
		return v, nil
	}
	return 0, errors.New("smaps_rollup without a Pss line")
}

// loadavg is the 1-minute load average.
func (p procFS) loadavg() (float64, error) {
	b, err := os.ReadFile(filepath.Join(p.root, "loadavg"))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, errors.New("empty loadavg")
	}
	return strconv.ParseFloat(f[0], 64)
}

// busy is the machine's CPU seconds spent on anything but idling, from
// the first line of /proc/stat (user nice system idle iowait irq softirq
// steal ...; guest time is already inside user).
func (p procFS) busy() (float64, error) {
	b, err := os.ReadFile(filepath.Join(p.root, "stat"))
	if err != nil {
		return 0, err
	}
	return parseBusy(b)
}

func parseBusy(b []byte) (float64, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat first line %q", truncate(string(line)))
	}
	var busy int64
	for i, v := range f[1:9] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat field %d: %w", i+1, err)
		}
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return float64(busy) / clockTicks, nil
}

// backendKind classifies a child of the postmaster by its process title.
type backendKind uint8

const (
	// backendUnknown is a child that has not set its title yet: right
	// after fork it still shows the postmaster's command line.
	backendUnknown backendKind = iota
	// backendAux is an auxiliary process: checkpointer, background writer,
	// walwriter, autovacuum launcher or worker, logical replication
	// launcher, stats collector, archiver and the like.
	backendAux
	// backendClient serves one client connection.
	backendClient
)

// backendInfo is what a postmaster child's title says: its kind and, for a
// client backend, the database user and the client's TCP port.
type backendInfo struct {
	kind backendKind
	user string
	port int
}

// classifyBackend reads a PostgreSQL child's title. A client backend's
// title is "postgres: USER DATABASE HOST(PORT) STATE" (the database is
// missing for replication connections; HOST is "[local]" on a socket, and
// the port then 0); auxiliary processes name themselves instead
// ("postgres: checkpointer").
func classifyBackend(title string) backendInfo {
	rest, ok := strings.CutPrefix(title, "postgres: ")
	if !ok {
		return backendInfo{kind: backendUnknown}
	}
	f := strings.Fields(rest)
	for _, i := range []int{2, 1} {
		if i >= len(f) {
			continue
		}
		if port, ok := hostPort(f[i]); ok {
			return backendInfo{kind: backendClient, user: f[0], port: port}
		}
	}
	return backendInfo{kind: backendAux}
}

// hostPort reads a client backend's HOST(PORT) title field.
func hostPort(s string) (port int, ok bool) {
	if s == "[local]" {
		return 0, true
	}
	host, rest, found := strings.Cut(s, "(")
	p, closed := strings.CutSuffix(rest, ")")
	if !found || !closed || host == "" {
		return 0, false
	}
	n, err := strconv.Atoi(p)
	return n, err == nil
}

// tcpPorts lists the local TCP ports of pid's sockets: the inodes its
// descriptors name (/proc/PID/fd/N links to "socket:[INODE]"), looked up in
// its network namespace's tables (/proc/PID/net/tcp and tcp6).
func (p procFS) tcpPorts(pid int) (map[int]bool, error) {
	fds, err := os.ReadDir(p.path(pid, "fd"))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(p.path(pid, "fd", fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(target, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	ports := map[int]bool{}
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(p.path(pid, "net", table))
		if errors.Is(err, os.ErrNotExist) {
			continue // a kernel without IPv6
		}
		if err != nil {
			return nil, err
		}
		if err := addTCPPorts(ports, b, inodes); err != nil {
			return nil, fmt.Errorf("net/%s: %w", table, err)
		}
	}
	return ports, nil
}

// addTCPPorts adds to ports the local port of each row of a /proc/net/tcp
// table whose socket inode (the tenth field) is in inodes. The local
// address is hexadecimal ADDRESS:PORT.
func addTCPPorts(ports map[int]bool, table []byte, inodes map[string]bool) error {
	lines := strings.Split(string(table), "\n")
	for _, line := range lines[1:] { // the first is the header
		f := strings.Fields(line)
		if len(f) < 10 || !inodes[f[9]] {
			continue
		}
		_, port, ok := strings.Cut(f[1], ":")
		n, err := strconv.ParseUint(port, 16, 16)
		if !ok || err != nil {
			return fmt.Errorf("local address %q", f[1])
		}
		ports[int(n)] = true
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
