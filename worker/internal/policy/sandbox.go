package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
)

// SandboxArg, as the worker binary's only argument, runs it as a policy
// sandbox (SandboxMain) instead of a worker.
const SandboxArg = "policy-sandbox"

// Limits bound one sandboxed check of a candidate policy. Zero fields take
// the defaults.
type Limits struct {
	// Compile bounds compiling the candidate (CPU time of the sandbox,
	// and twice that in wall time); default 2 s. A policy the worker
	// loads at start must compile well within the control plane's 10 s
	// worker start budget.
	Compile time.Duration
	// CPU is the sandbox's RLIMIT_CPU; default 8 s.
	CPU time.Duration
	// Wall bounds the sandbox's life; default 10 s, below the control
	// plane's 15 s deadline for one worker call (two missed in a row get
	// a worker replaced), so an over-budget candidate is a 422, not a
	// missed deadline.
	Wall time.Duration
	// Memory bounds what the sandbox may map beyond what the Go runtime
	// has reserved at its start (RLIMIT_AS is set to both), in bytes;
	// default 512 MiB. Its Go heap is held to half of it (GOMEMLIMIT), so
	// the runtime collects before the limit is hit.
	Memory int64
	// Decide bounds one user's decision in a dry run; default the
	// worker's own (500 ms), so a dry run reports the timeouts the policy
	// would have in force.
	Decide time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.Compile <= 0 {
		l.Compile = 2 * time.Second
	}
	if l.CPU <= 0 {
		l.CPU = 8 * time.Second
	}
	if l.Wall <= 0 {
		l.Wall = 10 * time.Second
	}
	if l.Memory <= 0 {
		l.Memory = 512 << 20
	}
	return l
}

// Sandbox checks candidate policies (compile, Rego tests) in a short-lived
// child process: the worker binary run with SandboxArg, under rlimits and a
// wall timeout, the candidate on stdin, the result on stdout. A candidate
// that exhausts a limit kills only its sandbox. One check runs at a time
// per Sandbox; others wait their turn.
type Sandbox struct {
	path   string
	limits Limits
	turn   chan struct{}
}

// NewSandbox returns a Sandbox running the executable at path (the worker
// binary, or a test binary whose TestMain calls SandboxMain).
func NewSandbox(path string, limits Limits) *Sandbox {
	return &Sandbox{path: path, limits: limits.withDefaults(), turn: make(chan struct{}, 1)}
}

// Errors a sandboxed check answers with; both are refusals (422).
var (
	errBudget = &scimworker.Error{Status: 422, Message: "policy exceeded its budget"}
)

func compileTooSlow(budget time.Duration) *scimworker.Error {
	return &scimworker.Error{Status: 422, Message: fmt.Sprintf("policy took longer than %s to compile", budget)}
}

// sandboxRequest is what the sandbox reads on stdin.
type sandboxRequest struct {
	Limits Limits `json:"limits"`
	Bundle Bundle `json:"bundle"`
	// DryRun keeps the sandbox reading users (dryRunInput) once the
	// candidate passed, answering each with a dryRunOutput, until EOF.
	DryRun bool `json:"dry_run,omitempty"`
}

// sandboxReply is what the sandbox writes on stdout.
type sandboxReply struct {
	// CompileTooSlow: compiling ran past Limits.Compile.
	CompileTooSlow bool `json:"compile_too_slow,omitempty"`
	// Problems: the policy (or, with InTests, its tests) does not compile.
	Problems []scimworker.PolicyProblem `json:"problems,omitempty"`
	InTests  bool                       `json:"in_tests,omitempty"`
	Tests    []scimworker.PolicyTest    `json:"tests,omitempty"`
	// Error is any other failure.
	Error string `json:"error,omitempty"`
}

// Check compiles b and runs its tests in a sandbox. It returns the test
// results, or a refusal: 422 with the problems, the failed tests, or
// "policy exceeded its budget" when the sandbox ran out of memory, CPU or
// time.
func (s *Sandbox) Check(ctx context.Context, b Bundle) ([]scimworker.PolicyTest, error) {
	_, tests, err := s.start(ctx, b, false)
	return tests, err
}

// DryRun checks b like Check and, when it passes, keeps the sandbox
// running to evaluate b for users (Session.Decide). Close the session.
func (s *Sandbox) DryRun(ctx context.Context, b Bundle) (*Session, []scimworker.PolicyTest, error) {
	return s.start(ctx, b, true)
}

// Session is a sandbox that accepted a candidate and evaluates it for one
// user at a time, within the sandbox's limits.
type Session struct {
	ctx    context.Context
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	enc    *json.Encoder
	dec    *json.Decoder
	done   func()
	closed bool
}

// dryRunInput and dryRunOutput are what a dry-running sandbox reads and
// writes per user, after its sandboxReply.
type dryRunInput struct {
	User   map[string]any       `json:"user"`
	Groups []provision.GroupRef `json:"groups"`
}

type dryRunOutput struct {
	Permissions provision.Permissions `json:"permissions"`
}

func (s *Sandbox) start(ctx context.Context, b Bundle, dryRun bool) (*Session, []scimworker.PolicyTest, error) {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("sandbox: wait for a turn: %w", ctx.Err())
	}
	runCtx, cancel := context.WithTimeout(ctx, s.limits.Wall)
	cmd := exec.CommandContext(runCtx, s.path, SandboxArg)
	// Nothing of the worker's environment: the sandbox needs none of it.
	cmd.Env = []string{}
	cmd.Stderr = &limitedWriter{w: io.Discard, n: 64 << 10}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second
	ss := &Session{ctx: ctx, cmd: cmd, done: func() { cancel(); <-s.turn }}
	stdin, err := cmd.StdinPipe()
	if err == nil {
		var stdout io.Reader
		if stdout, err = cmd.StdoutPipe(); err == nil {
			ss.dec = json.NewDecoder(stdout)
			err = cmd.Start()
		}
	}
	if err != nil {
		ss.done()
		return nil, nil, fmt.Errorf("sandbox: run %s: %w", s.path, err)
	}
	ss.stdin, ss.enc = stdin, json.NewEncoder(stdin)
	var rep sandboxReply
	err = ss.enc.Encode(sandboxRequest{Limits: s.limits, Bundle: b, DryRun: dryRun})
	if err == nil && !dryRun {
		err = stdin.Close()
	}
	if err == nil {
		err = ss.dec.Decode(&rep)
	}
	if err != nil {
		return nil, nil, ss.fail()
	}
	var refused error
	switch {
	case rep.CompileTooSlow:
		refused = compileTooSlow(s.limits.Compile)
	case rep.Error != "":
		refused = fmt.Errorf("sandbox: %s", rep.Error)
	case len(rep.Problems) > 0 && rep.InTests:
		refused = &scimworker.Error{Status: 422, Message: "policy tests do not compile", Problems: rep.Problems}
	case len(rep.Problems) > 0:
		refused = &scimworker.Error{Status: 422, Message: "policy does not compile", Problems: rep.Problems}
	case !Passed(rep.Tests):
		msg := "policy tests failed"
		if len(rep.Tests) == 0 {
			msg = "policy has no tests"
		}
		refused = &scimworker.Error{Status: 422, Message: msg, Tests: rep.Tests}
	}
	if refused != nil || !dryRun {
		ss.Close()
		return nil, rep.Tests, refused
	}
	return ss, rep.Tests, nil
}

// fail ends a sandbox that stopped answering: killed by a limit or the
// wall timeout, or out of memory, unless the caller gave up.
func (ss *Session) fail() error {
	ss.Close()
	if err := ss.ctx.Err(); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	return errBudget
}

// Decide evaluates the candidate for one user; a timeout is reported in
// the permissions' Error, like any policy error.
func (ss *Session) Decide(user map[string]any, groups []provision.GroupRef) (provision.Permissions, error) {
	if ss.closed {
		return provision.Permissions{}, errors.New("sandbox: session closed")
	}
	var out dryRunOutput
	if ss.enc.Encode(dryRunInput{User: user, Groups: groups}) != nil || ss.dec.Decode(&out) != nil {
		return provision.Permissions{}, ss.fail()
	}
	return out.Permissions, nil
}

// Close ends the sandbox and frees the turn.
func (ss *Session) Close() {
	if ss.closed {
		return
	}
	ss.closed = true
	_ = ss.stdin.Close()
	_ = ss.cmd.Wait()
	ss.done()
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, errors.New("sandbox output too large")
	}
	l.n -= len(p)
	return l.w.Write(p)
}

// SandboxMain is the sandbox process: it reads one sandboxRequest from in,
// limits itself, compiles the candidate and runs its tests, and writes one
// sandboxReply to out. It returns the exit code. Exhausted limits end the
// process without a reply (the parent reads that as over budget); compiling
// past Limits.Compile ends it with CompileTooSlow.
func SandboxMain(in io.Reader, out io.Writer) int {
	var req sandboxRequest
	dec := json.NewDecoder(in)
	if err := dec.Decode(&req); err != nil {
		return reply(out, sandboxReply{Error: "decode request: " + err.Error()})
	}
	l := req.Limits.withDefaults()
	// Limits first: everything after this runs the candidate's code.
	debug.SetMemoryLimit(l.Memory / 2)
	mapped, err := addressSpace()
	if err != nil {
		return reply(out, sandboxReply{Error: err.Error()})
	}
	for _, lim := range []struct {
		res int
		max uint64
	}{
		{unix.RLIMIT_AS, uint64(mapped + l.Memory)},
		{unix.RLIMIT_CPU, uint64(max(l.CPU/time.Second, 1))},
		{unix.RLIMIT_CORE, 0},
	} {
		if err := unix.Setrlimit(lim.res, &unix.Rlimit{Cur: lim.max, Max: lim.max}); err != nil {
			return reply(out, sandboxReply{Error: "set rlimit: " + err.Error()})
		}
	}
	ctx := context.Background()

	// Compile in the background, watched: OPA's compiler cannot be
	// cancelled, so a compile past its budget ends the process.
	type result struct {
		d   *Decider
		err error
	}
	compiled := make(chan result, 1)
	go func() {
		d, err := Compile(ctx, req.Bundle, Options{Timeout: l.Decide})
		compiled <- result{d, err}
	}()
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	var c result
wait:
	for {
		select {
		case c = <-compiled:
			break wait
		case <-tick.C:
			if cpuTime() > l.Compile || time.Since(start) > 2*l.Compile {
				return reply(out, sandboxReply{CompileTooSlow: true})
			}
		}
	}
	tick.Stop()
	err = c.err
	var ce *CompileError
	if errors.As(err, &ce) {
		return reply(out, sandboxReply{Problems: ce.Problems})
	}
	if err != nil {
		return reply(out, sandboxReply{Error: "compile: " + err.Error()})
	}
	tests, err := RunTests(ctx, req.Bundle)
	if errors.As(err, &ce) {
		return reply(out, sandboxReply{Problems: ce.Problems, InTests: true})
	}
	if err != nil {
		return reply(out, sandboxReply{Error: "run tests: " + err.Error()})
	}
	if code := reply(out, sandboxReply{Tests: tests}); code != 0 || !req.DryRun || !Passed(tests) {
		return code
	}
	return dryRun(ctx, c.d, dec, out)
}

// dryRun evaluates d for each user read from dec until EOF.
func dryRun(ctx context.Context, d *Decider, dec *json.Decoder, out io.Writer) int {
	p := &provision.Policy{Decider: d, Reads: d.Reads()}
	enc := json.NewEncoder(out)
	for {
		var in dryRunInput
		if err := dec.Decode(&in); err == io.EOF {
			return 0
		} else if err != nil {
			return 1
		}
		perms, err := provision.Evaluate(ctx, p, &provision.Subject{User: in.User, Groups: in.Groups})
		if err != nil {
			perms = provision.Permissions{Error: err.Error()}
		}
		if err := enc.Encode(dryRunOutput{Permissions: perms}); err != nil {
			return 1
		}
	}
}

// addressSpace is the process's virtual memory size in bytes: the Go
// runtime reserves some at start, which RLIMIT_AS must leave room for.
func addressSpace() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("read address space size: %w", err)
	}
	var pages int64
	if _, err := fmt.Sscan(string(b), &pages); err != nil {
		return 0, fmt.Errorf("read address space size: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reply(out io.Writer, r sandboxReply) int {
	if err := json.NewEncoder(out).Encode(r); err != nil {
		return 1
	}
	return 0
}
