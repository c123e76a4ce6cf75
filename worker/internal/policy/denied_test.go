package policy_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/worker/internal/policy"
)

// TestCompile_deniedBuiltins: a policy (or its tests) calling a
// non-deterministic, network or unbounded built-in is refused at compile
// time, naming the built-in and its line.
func TestCompile_deniedBuiltins(t *testing.T) {
	tests := []struct {
		builtin string
		expr    string // a call, on line 4 of the module
	}{
		{"time.now_ns", `time.now_ns()`},
		{"rand.intn", `rand.intn("seed", 10)`},
		{"uuid.rfc4122", `uuid.rfc4122("k")`},
		{"http.send", `http.send({"method": "get", "url": "http://127.0.0.1/"})`},
		{"net.lookup_ip_addr", `net.lookup_ip_addr("localhost")`},
		{"net.cidr_expand", `net.cidr_expand("10.0.0.0/8")`},
		{"opa.runtime", `opa.runtime()`},
		{"io.jwt.decode_verify", `io.jwt.decode_verify("x", {"secret": "s"})`},
		{"io.jwt.encode_sign", `io.jwt.encode_sign({"alg": "HS256"}, {}, {"kty": "oct", "k": "a"})`},
		{"json.match_schema", `json.match_schema({}, {})`},
		{"numbers.range", `numbers.range(1, 100000000)`},
		{"numbers.range_step", `numbers.range_step(1, 100000000, 1)`},
	}
	for _, tt := range tests {
		for _, where := range []string{"policy", "test", "nested"} {
			t.Run(tt.builtin+"/"+where, func(t *testing.T) {
				b := defaultBundle(t)
				file := "extra.rego"
				src := fmt.Sprintf("package scimplane.extra\n\n# the call below\nx := %s\n", tt.expr)
				switch where {
				case "test":
					file = "extra_test.rego"
					src = fmt.Sprintf("package scimplane.extra_test\n\n# the call below\ntest_x if %s\n", tt.expr)
				case "nested":
					src = fmt.Sprintf("package scimplane.extra\n\n# the call below\ny := [v | v := %s]\n", tt.expr)
				}
				b.Modules[file] = src

				var err error
				if where == "test" {
					_, err = policy.RunTests(context.Background(), b)
				} else {
					_, err = policy.Compile(context.Background(), b, policy.Options{})
				}
				var ce *policy.CompileError
				require.ErrorAs(t, err, &ce)
				require.Len(t, ce.Problems, 1, ce.Problems)
				p := ce.Problems[0]
				require.Equal(t, file, p.File)
				require.Equal(t, 4, p.Line)
				require.Contains(t, p.Message, "built-in "+tt.builtin+" is not allowed")
			})
		}
	}
}

// TestCompile_defaultPolicyIsAllowed: the built-in policy and its tests
// call no denied built-in.
func TestCompile_defaultPolicyIsAllowed(t *testing.T) {
	b := defaultBundle(t)
	_, err := policy.Compile(context.Background(), b, policy.Options{})
	require.NoError(t, err)
	results, err := policy.RunTests(context.Background(), b)
	require.NoError(t, err)
	require.True(t, policy.Passed(results))
}
