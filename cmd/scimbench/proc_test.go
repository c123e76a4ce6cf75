package main

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// statLine is a /proc/PID/stat line with the given CPU ticks.
func statLine(pid int, comm string, ppid int, utime, stime, cutime, cstime int) string {
	return strconv.Itoa(pid) + " (" + comm + ") S " + strconv.Itoa(ppid) +
		" 1 1 0 -1 4194560 100 0 0 0 " +
		strings.Join([]string{strconv.Itoa(utime), strconv.Itoa(stime), strconv.Itoa(cutime), strconv.Itoa(cstime)}, " ") +
		" 20 0 8 0 12345 1000000 500 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    procStat
		wantErr string
	}{
		{name: "plain", line: statLine(42, "worker", 7, 150, 50, 1000, 200),
			want: procStat{pid: 42, ppid: 7, comm: "worker", utime: 1.5, stime: 0.5, cutime: 10, cstime: 2}},
		{name: "comm with spaces and parentheses", line: statLine(43, "a) (b c", 1, 1, 2, 3, 4),
			want: procStat{pid: 43, ppid: 1, comm: "a) (b c", utime: 0.01, stime: 0.02, cutime: 0.03, cstime: 0.04}},
		{name: "truncated", line: "44 (x) S 1 1 1", wantErr: "fields"},
		{name: "no comm", line: "44 x S 1", wantErr: "no command name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.line))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParsePSS(t *testing.T) {
	rollup := "55d0c0a00000-7ffd5a3f1000 ---p 00000000 00:00 0                  [rollup]\n" +
		"Rss:               15360 kB\nPss:                8123 kB\nPss_Dirty:          5000 kB\nShared_Clean:       9000 kB\n"
	got, err := parsePSS([]byte(rollup))
	require.NoError(t, err)
	require.Equal(t, int64(8123), got)
	_, err = parsePSS([]byte("Rss: 1 kB\n"))
	require.ErrorContains(t, err, "without a Pss line")
}

func TestClassifyBackend(t *testing.T) {
	client := func(user string, port int) backendInfo {
		return backendInfo{kind: backendClient, user: user, port: port}
	}
	tests := []struct {
		title string
		want  backendInfo
	}{
		{"postgres: postgres postgres 127.0.0.1(45678) idle", client("postgres", 45678)},
		{"postgres: tnt_01abc postgres 127.0.0.1(45679) idle in transaction", client("tnt_01abc", 45679)},
		{"postgres: tnt_01abc postgres 127.0.0.1(45680) UPDATE waiting", client("tnt_01abc", 45680)},
		{"postgres: bob app [local] SELECT", client("bob", 0)},
		{"postgres: repl ::1(5555) streaming", client("repl", 5555)},
		{"postgres: checkpointer", backendInfo{kind: backendAux}},
		{"postgres: background writer", backendInfo{kind: backendAux}},
		{"postgres: walwriter", backendInfo{kind: backendAux}},
		{"postgres: autovacuum launcher", backendInfo{kind: backendAux}},
		{"postgres: autovacuum worker postgres", backendInfo{kind: backendAux}},
		{"postgres: logical replication launcher", backendInfo{kind: backendAux}},
		{"postgres: stats collector", backendInfo{kind: backendAux}},
		{"postgres: parallel worker for PID 4242", backendInfo{kind: backendAux}},
		// Not a HOST(PORT) field.
		{"postgres: bob app (5432) idle", backendInfo{kind: backendAux}},
		{"postgres: bob app 127.0.0.1(x) idle", backendInfo{kind: backendAux}},
		// Just forked: still the postmaster's command line.
		{"/usr/lib/postgresql/15/bin/postgres -D /tmp/x/postgres -p 5432", backendInfo{kind: backendUnknown}},
	}
	for _, tt := range tests {
		t.Run(tt.title, func(t *testing.T) {
			require.Equal(t, tt.want, classifyBackend(tt.title))
		})
	}
}

func TestAddTCPPorts(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	row := func(local, inode string) string {
		return "   0: " + local + " 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 " + inode + " 1 0000000000000000 20 4 30 10 -1\n"
	}
	tests := []struct {
		name    string
		table   string
		want    []int
		wantErr bool
	}{
		{"only the inodes asked for", header + row("0100007F:9C40", "1001") + row("0100007F:9C41", "9999") + row("0100007F:9C42", "1002"), []int{40000, 40002}, false},
		{"tcp6", header + row("00000000000000000000000001000000:9C43", "1001"), []int{40003}, false},
		{"header only", header, nil, false},
		{"short rows are skipped", header + "   0: 0100007F:9C40\n", nil, false},
		{"bad port", header + row("0100007F:XYZ", "1001"), nil, true},
		{"no port", header + row("0100007F", "1002"), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ports := map[int]bool{}
			err := addTCPPorts(ports, []byte(tt.table), map[string]bool{"1001": true, "1002": true})
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.ElementsMatch(t, tt.want, slices.Collect(maps.Keys(ports)))
		})
	}
}

// fakeProc writes a /proc tree: a control plane (100, two threads) with a
// postmaster (200), two workers (300, 400) and a helper (500); the
// postmaster has auxiliary processes, the control plane's connection
// (postgres, client port 40000), two tenant connections (tnt_a from the
// control plane's port 40001, tnt_b from worker 300's port 40002) and a
// child not yet retitled.
func fakeProc(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	// PostgreSQL pads its title with NULs.
	title := func(s string) string { return s + strings.Repeat("\x00", 40) }
	write("loadavg", "1.25 0.80 0.40 3/250 12345\n")
	write("stat", "cpu  10000 50 3000 90000 400 0 150 7 0 0\ncpu0 5000 25 1500 45000 200 0 75 3 0 0\nintr 1 2 3\n")
	write("100/stat", statLine(100, "controlplane", 1, 300, 100, 500, 100))
	write("100/task/100/children", "200 300 ")
	write("100/task/101/children", "400 500")
	write("200/stat", statLine(200, "postgres", 100, 50, 50, 900, 100))
	write("200/task/200/children", "201 202 203 204 205 206 207")
	write("201/stat", statLine(201, "postgres", 200, 10, 0, 0, 0))
	write("201/cmdline", title("postgres: checkpointer"))
	write("202/stat", statLine(202, "postgres", 200, 20, 0, 0, 0))
	write("202/cmdline", title("postgres: postgres postgres 127.0.0.1(40000) idle"))
	write("203/stat", statLine(203, "postgres", 200, 30, 0, 0, 0))
	write("203/cmdline", title("postgres: tnt_a postgres 127.0.0.1(40001) idle"))
	write("204/stat", statLine(204, "postgres", 200, 40, 0, 0, 0))
	write("204/cmdline", title("postgres: tnt_b postgres 127.0.0.1(40002) INSERT"))
	write("205/stat", statLine(205, "postgres", 200, 0, 0, 0, 0))
	write("205/cmdline", "/usr/lib/postgresql/15/bin/postgres\x00-D\x00/tmp/pg\x00")
	write("206/stat", statLine(206, "postgres", 200, 5, 5, 0, 0))
	write("206/cmdline", title("postgres: autovacuum launcher"))
	write("207/stat", statLine(207, "postgres", 200, 0, 0, 0, 0))
	write("207/cmdline", title("postgres: logical replication launcher"))
	write("300/stat", statLine(300, "worker", 100, 200, 100, 0, 0))
	write("400/stat", statLine(400, "worker", 100, 100, 0, 0, 0))
	write("500/stat", statLine(500, "pgbouncer", 100, 7, 3, 0, 0))
	// The control plane's descriptors: two sockets (inodes 1001, 1002), a
	// pipe and a file. The network namespace's table also has worker 300's
	// socket (1003) and the server's ends (2001..2003).
	for fd, target := range map[string]string{"0": "/dev/null", "3": "socket:[1001]", "4": "socket:[1002]", "5": "pipe:[77]"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, "100", "fd"), 0o755))
		require.NoError(t, os.Symlink(target, filepath.Join(root, "100", "fd", fd)))
	}
	tcpRow := func(local, remote, inode string) string {
		return "   0: " + local + " " + remote + " 01 00000000:00000000 00:00000000 00000000   103        0 " + inode + " 1 0000000000000000 20 4 30 10 -1\n"
	}
	write("100/net/tcp", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"+
		tcpRow("0100007F:1538", "00000000:0000", "2000")+ // the server's listening socket
		tcpRow("0100007F:9C40", "0100007F:1538", "1001")+
		tcpRow("0100007F:1538", "0100007F:9C40", "2001")+
		tcpRow("0100007F:9C41", "0100007F:1538", "1002")+
		tcpRow("0100007F:1538", "0100007F:9C41", "2002")+
		tcpRow("0100007F:9C42", "0100007F:1538", "1003")+
		tcpRow("0100007F:1538", "0100007F:9C42", "2003"))
	for pid, pss := range map[string]string{"202": "3000", "203": "2500", "204": "3500", "300": "8000", "400": "9000", "500": "1200"} {
		write(pid+"/smaps_rollup", "Rss: 99999 kB\nPss:  "+pss+" kB\n")
	}
	return root
}

func TestProcFS_Children(t *testing.T) {
	fs := procFS{root: fakeProc(t)}
	kids, err := fs.children(100)
	require.NoError(t, err)
	require.ElementsMatch(t, []int{200, 300, 400, 500}, kids)

	// Without task/*/children files, the parent is found by scanning.
	require.NoError(t, os.RemoveAll(filepath.Join(fs.root, "100", "task")))
	kids, err = fs.children(100)
	require.NoError(t, err)
	require.ElementsMatch(t, []int{200, 300, 400, 500}, kids)

	_, err = fs.children(999)
	require.Error(t, err)

	kids, err = fs.mainThreadChildren(200)
	require.NoError(t, err)
	require.Equal(t, []int{201, 202, 203, 204, 205, 206, 207}, kids)
	// No task/*/children files: the scan.
	kids, err = fs.mainThreadChildren(100)
	require.NoError(t, err)
	require.ElementsMatch(t, []int{200, 300, 400, 500}, kids)
}

func TestProcFS_CmdlineAndLoad(t *testing.T) {
	fs := procFS{root: fakeProc(t)}
	title, err := fs.cmdline(202)
	require.NoError(t, err)
	require.Equal(t, "postgres: postgres postgres 127.0.0.1(40000) idle", title)
	title, err = fs.cmdline(205)
	require.NoError(t, err)
	require.Equal(t, "/usr/lib/postgresql/15/bin/postgres -D /tmp/pg", title)
	load, err := fs.loadavg()
	require.NoError(t, err)
	require.Equal(t, 1.25, load)
	busy, err := fs.busy()
	require.NoError(t, err)
	require.InDelta(t, (10000+50+3000+150+7)/100.0, busy, 1e-9, "everything but idle and iowait")
	_, err = parseBusy([]byte("intr 1 2\n"))
	require.Error(t, err)
}

func TestObserver(t *testing.T) {
	fs := procFS{root: fakeProc(t)}
	o, err := newObserver(fs, 100, commName("worker"))
	require.NoError(t, err)
	require.Equal(t, 200, o.pg)

	all, tenants := o.connCount(nil)
	require.Equal(t, 3, all, "client backends: the control plane's and two tenants'")
	require.Equal(t, 2, tenants)
	require.ElementsMatch(t, []int{300, 400}, o.workers())

	c := o.cpu()
	require.InDelta(t, 4.0, c.ControlPlane, 1e-9)
	// Reaped children (6 s) plus live workers (3 s + 1 s).
	require.InDelta(t, 10.0, c.Workers, 1e-9)
	// Postmaster with its reaped children (1 + 10 s) plus its live children.
	require.InDelta(t, 11.0+0.1+0.2+0.3+0.4+0.1, c.Postgres, 1e-9)
	require.InDelta(t, 0.1, c.Other, 1e-9)
	require.Positive(t, c.Client)
	require.InDelta(t, 132.07, c.Machine, 1e-9)

	m := o.memory()
	require.Equal(t, memory{Workers: 2, WorkerKiB: 17000, Backends: 2, BackendKiB: 6000, OwnBackends: 1, OwnBackendsKiB: 3000, OtherKiB: 1200}, m)
}

func TestObserver_LearnOwnBackends(t *testing.T) {
	root := fakeProc(t)
	fs := procFS{root: root}
	ports, err := fs.tcpPorts(100)
	require.NoError(t, err)
	require.Equal(t, map[int]bool{40000: true, 40001: true}, ports, "the control plane's sockets only")

	o, err := newObserver(fs, 100, "worker")
	require.NoError(t, err)
	// Before any tenant existed the control plane held tnt_a's connection
	// (a service that connects under another role): tnt_a is its own. A
	// worker held tnt_b's (a pre-started worker's): not the control plane's.
	n, err := o.learnOwnBackends()
	require.NoError(t, err)
	require.Equal(t, 2, n)
	all, tenants := o.connCount(nil)
	require.Equal(t, 3, all)
	require.Equal(t, 1, tenants)
	m := o.memory()
	require.Equal(t, 1, m.Backends)
	require.Equal(t, int64(3500), m.BackendKiB, "tnt_b's backend counts with the workers'")

	// A retitled child is classified on the next look; the cache does not
	// keep "unknown".
	require.NoError(t, os.WriteFile(filepath.Join(root, "205", "cmdline"), []byte("postgres: tnt_c postgres 127.0.0.1(40003) idle\x00"), 0o644))
	all, tenants = o.connCount(nil)
	require.Equal(t, 4, all)
	require.Equal(t, 2, tenants)

	// Without the control plane's descriptors nothing can be told apart.
	require.NoError(t, os.RemoveAll(filepath.Join(root, "100", "fd")))
	_, err = o.learnOwnBackends()
	require.ErrorContains(t, err, "the control plane's sockets")
}

func TestCommName(t *testing.T) {
	require.Equal(t, "worker", commName("worker"))
	require.Equal(t, "scimplane-worke", commName("scimplane-worker-v2"))
}
