package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/tests/apitest"
	"github.com/scimplane/scimplane/tests/pgtest"
)

// rssAttackBound is the most the control plane's resident memory may grow
// under the slow-body attack, whatever the number of connections: the
// ingress limits' worst case (see config.Ingress) is about 170 MiB.
const rssAttackBound = 256 << 20

// TestRun_SlowBodyAttackRSS runs the control plane binary as a child
// process and measures its resident memory while SCIMPLANE_RSS_ATTACK
// connections (e.g. 2000) without a token each declare a body of
// SCIMPLANE_RSS_DECLARED bytes (default 2 MiB) and send one byte;
// SCIMPLANE_RSS_ENV adds variables (k=v,k=v), e.g. to lift the connection
// caps. It needs a few seconds and up to the attack's memory,
// so it runs only when asked.
func TestRun_SlowBodyAttackRSS(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SCIMPLANE_RSS_ATTACK"))
	if n == 0 {
		t.Skip("set SCIMPLANE_RSS_ATTACK=<connections> to run")
	}
	declared := 2 << 20
	if v := os.Getenv("SCIMPLANE_RSS_DECLARED"); v != "" {
		declared, _ = strconv.Atoi(v)
	}
	bin := filepath.Join(t.TempDir(), "controlplane")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/scimplane/scimplane/controlplane").CombinedOutput()
	require.NoError(t, err, string(out))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"DATABASE_URL=" + pgtest.NewDatabase(t),
		"SCIMPLANE_ADDR=" + addr,
		"SCIMPLANE_BOOTSTRAP_KEY=" + operatorKey,
		"SCIMPLANE_DATA_DIR=" + t.TempDir(),
		"SCIMPLANE_WORKER_BIN=" + workerBin,
		"SCIMPLANE_SECRET=test-secret-0123456789abcdef0123456789",
		"SCIMPLANE_LOG_LEVEL=warn",
		"PATH=" + os.Getenv("PATH"),
	}
	if extra := os.Getenv("SCIMPLANE_RSS_ENV"); extra != "" {
		cmd.Env = append(cmd.Env, strings.Split(extra, ",")...)
	}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)
	req, _ := http.NewRequest("POST", base+"/api/v1/tenants", bytes.NewReader([]byte(`{"name":"A"}`)))
	req.Header.Set("Authorization", "Bearer "+operatorKey)
	resp, err := apitest.Client(t).Do(req)
	require.NoError(t, err)
	var tn struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tn))
	resp.Body.Close()

	rss := func() int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
		t.Fatal("no VmRSS")
		return 0
	}
	before := rss()
	answered := make(chan int, n)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		conns = append(conns, c)
		_, _ = fmt.Fprintf(c, "POST /scim/%s/v2/Users HTTP/1.1\r\nHost: x\r\nContent-Type: application/scim+json\r\nContent-Length: %d\r\n\r\n{", tn.ID, declared)
		go func() {
			status := 0
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			answered <- status
		}()
	}
	peak := before
	statuses := map[int]int{}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for got := 0; got < n; {
		select {
		case s := <-answered:
			statuses[s]++
			got++
		case <-tick.C:
			peak = max(peak, rss())
		}
	}
	peak = max(peak, rss())
	for _, c := range conns {
		c.Close()
	}
	time.Sleep(3 * time.Second) // let lingering closes and the GC settle before the last reading
	after := rss()
	mib := func(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	t.Logf("%d connections declaring %d bytes: RSS before %s, peak %s, 3 s after closing %s; answers %v (0: none within 10 s)",
		n, declared, mib(before), mib(peak), mib(after), statuses)
	require.Less(t, peak-before, int64(rssAttackBound))
}
