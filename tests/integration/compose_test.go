package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/tests/entrasim"
)

// composeCmd is `docker compose` where the plugin exists, else the
// standalone docker-compose.
func composeCmd(t *testing.T) []string {
	t.Helper()
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if path, err := exec.LookPath("docker-compose"); err == nil {
		return []string{path}
	}
	t.Fatal("neither `docker compose` nor docker-compose is installed")
	return nil
}

// compose runs the repository's docker-compose.yml as one project.
type compose struct {
	t       *testing.T
	cmd     []string
	env     []string
	baseURL string
}

func (c *compose) run(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.cmd[0], append(c.cmd[1:], args...)...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	require.NoError(c.t, err, "%s %s:\n%s", strings.Join(c.cmd, " "), strings.Join(args, " "), out)
	return string(out)
}

// up starts the project and waits until the control plane is ready.
func (c *compose) up() {
	c.t.Helper()
	c.run("up", "-d")
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(c.baseURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("control plane not ready after 2m: %v\n%s", err, c.run("logs", "--tail", "50"))
		}
	}
}

// TestCompose brings up docker-compose.yml with a generated operator key,
// provisions through it, takes it down and up again (the volumes keep every
// tenant, token and user), and removes it with its volumes.
func TestCompose(t *testing.T) {
	requireImages(t, controlPlaneImage, postgresImage)
	_, err := os.Stat(filepath.Join("..", "..", "bin", "controlplane"))
	require.NoError(t, err, "docker-compose.yml builds from bin/: run `make build`")

	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	project := "scimplane-e2e-" + hex.EncodeToString(suffix)
	port := freePort(t)
	c := &compose{t: t, cmd: composeCmd(t), baseURL: "http://127.0.0.1:" + port}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCIMPLANE_") && !strings.HasPrefix(kv, "COMPOSE_") {
			c.env = append(c.env, kv)
		}
	}
	c.env = append(c.env,
		"COMPOSE_PROJECT_NAME="+project,
		"COMPOSE_FILE="+filepath.Join("..", "..", "docker-compose.yml"),
		"SCIMPLANE_IMAGE="+controlPlaneImage,
		"SCIMPLANE_PG_IMAGE="+postgresImage,
		"SCIMPLANE_PORT="+port,
		"SCIMPLANE_PUBLIC_URL="+c.baseURL,
	)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.run("logs", "--tail", "100"))
		}
		c.run("down", "-v", "--remove-orphans")
		out, err := exec.Command("docker", "volume", "ls", "-q", "--filter", "name="+project).Output()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("volumes left behind by %s: %q (%v)", project, out, err)
		}
	})

	done := phase(t, "compose up (first start)")
	c.up()
	done()
	// With no SCIMPLANE_BOOTSTRAP_KEY the control plane generates the
	// operator key and prints it once.
	key := regexp.MustCompile(`spk_[A-Za-z0-9_-]+`).FindString(c.run("logs", "controlplane"))
	require.NotEmpty(t, key, "no generated operator key in the control plane's log")

	tn := createTenant(t, c.baseURL, key, "Compose")
	client, err := entrasim.NewClient(tn.SCIMURL, tn.Token, time.Minute)
	require.NoError(t, err)
	sim := entrasim.New(client, entrasim.Generate(51, "compose.test", 30, 3), entrasim.Legacy, 4)
	done = phase(t, "provision through compose")
	ctx, cancel := context.WithTimeout(context.Background(), cycleTimeout)
	defer cancel()
	require.NoError(t, sim.Initial(ctx))
	done()

	done = phase(t, "compose down, up")
	c.run("down")
	c.up()
	done()
	require.NotContains(t, c.run("logs", "controlplane"), "generated bootstrap", "a second key was generated after down/up")
	require.NoError(t, sim.Verify(ctx), "data after down/up")
	// The same operator key still works.
	createTenant(t, c.baseURL, key, fmt.Sprintf("Compose %s", project))
}
