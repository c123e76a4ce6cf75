package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

const entraCreate = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
 "externalId":"%[1]d","userName":"bench%[1]d@contoso.com","active":"True","displayName":"Bench %[1]d","title":"Engineer",
 "emails":[{"primary":true,"type":"work","value":"bench%[1]d@mail.contoso.com"}],"name":{"formatted":"Bench %[1]d","familyName":"%[1]d","givenName":"Bench"},
 "phoneNumbers":[{"type":"work","value":"+1 (425) 555-0100"}],"meta":{"resourceType":"User"},"roles":[],
 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"%[1]d","department":"R&D"}}`

// seedUsers inserts n users straight into the tenant schema (u-0 .. u-n-1)
// with the same document shape SCIM creates.
func seedUsers(tb testing.TB, w *Worker, n int) {
	tb.Helper()
	_, err := w.pool.Load().Exec(context.Background(), `INSERT INTO users (id, user_name, external_id, display_name, emails_lc, doc, created, last_modified)
		SELECT 'u-' || i, 'user' || i || '@contoso.com', 'ext' || i, 'User ' || i, ARRAY['user' || i || '@mail.contoso.com'],
		       jsonb_build_object('userName', 'user' || i || '@contoso.com', 'externalId', 'ext' || i, 'displayName', 'User ' || i,
		         'emails', jsonb_build_array(jsonb_build_object('type', 'work', 'value', 'user' || i || '@mail.contoso.com'))),
		       now(), now()
		FROM generate_series(0, $1 - 1) AS i`, n)
	require.NoError(tb, err)
	_, err = w.pool.Load().Exec(context.Background(), `ANALYZE users`)
	require.NoError(tb, err)
}

func handle(b *testing.B, w *Worker, method, path, query, body string, want int) {
	reply, err := w.Handle(context.Background(), &scimworker.Exchange{Method: method, Path: path, RawQuery: query, Body: []byte(body)})
	if err != nil || reply.Status != want {
		b.Fatalf("%s %s: %v %d %s", method, path, err, reply.Status, reply.Body)
	}
}

// BenchmarkCreateUser posts Entra-shaped users from parallel clients; each
// create is one durable transaction with its SCIM log row.
func BenchmarkCreateUser(b *testing.B) {
	w := newTestWorker(b)
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			handle(b, w, "POST", "/Users", "", fmt.Sprintf(entraCreate, n.Add(1)), 201)
		}
	})
}

// BenchmarkPatchUser replaces one attribute the policy does not read: the
// write, its change feed row (user_updated) and its log row.
func BenchmarkPatchUser(b *testing.B) {
	w := newTestWorker(b)
	_, u, _ := do(b, w, "POST", "/Users", "", fmt.Sprintf(entraCreate, 1))
	id := u["id"].(string)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"title","value":"T%d"}]}`, i)
		handle(b, w, "PATCH", "/Users/"+id, "", body, 200)
	}
}

// BenchmarkFilterUserName is Entra's lookup before create on 100,000 users.
func BenchmarkFilterUserName(b *testing.B) {
	w := newTestWorker(b)
	seedUsers(b, w, 100_000)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		handle(b, w, "GET", "/Users", fmt.Sprintf(`filter=userName+eq+%%22USER%d%%40contoso.com%%22`, i%100_000), "", 200)
	}
}

// BenchmarkFilterWorkEmail is the emails[type eq "work"].value lookup.
func BenchmarkFilterWorkEmail(b *testing.B) {
	w := newTestWorker(b)
	seedUsers(b, w, 100_000)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		handle(b, w, "GET", "/Users", fmt.Sprintf(`filter=emails[type eq "work"].value eq "user%d@mail.contoso.com"`, i%100_000), "", 200)
	}
}

// BenchmarkAddMember adds one member per PATCH to a 10,000-member group.
func BenchmarkAddMember(b *testing.B) {
	w := newTestWorker(b)
	seedUsers(b, w, 40_000)
	_, g, _ := do(b, w, "POST", "/Groups", "", `{"displayName":"Big"}`)
	gid := g["id"].(string)
	_, err := w.pool.Load().Exec(context.Background(), `INSERT INTO members (group_id, user_id) SELECT $1, 'u-' || i FROM generate_series(0, 9999) i`, gid)
	require.NoError(b, err)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":"u-%d"}]}]}`, 10_000+i%30_000)
		handle(b, w, "PATCH", "/Groups/"+gid, "", body, 204)
	}
}

// BenchmarkListUsers reads random pages of 100 from 100,000 users.
func BenchmarkListUsers(b *testing.B) {
	w := newTestWorker(b)
	seedUsers(b, w, 100_000)
	b.ResetTimer()
	for b.Loop() {
		handle(b, w, "GET", "/Users", fmt.Sprintf("startIndex=%d&count=100", 1+rand.IntN(99_900)), "", 200)
	}
}
