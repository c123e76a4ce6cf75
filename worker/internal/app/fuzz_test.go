package app

import (
	"context"
	"testing"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// FuzzExchange throws arbitrary requests at the worker on a real PostgreSQL:
// whatever arrives, the answer is a SCIM reply below 500.
func FuzzExchange(f *testing.F) {
	seeds := []struct{ method, path, query, body string }{
		{"POST", "/Users", "", `{"userName":"f@x","active":"True","emails":[{"type":"work","value":"a"}]}`},
		{"GET", "/Users", `filter=emails[type eq "work"].value eq "a"`, ""},
		{"GET", "/Users", `filter=userName sw "f" and not (title pr)&count=5&startIndex=2&attributes=userName`, ""},
		{"PATCH", "/Users/x", "", `{"Operations":[{"op":"replace","value":{"name.givenName":"g"}}]}`},
		{"POST", "/Groups", "", `{"displayName":"G","members":[{"value":"x"}]}`},
		{"GET", "/Groups", `filter=members[value eq "x"]&excludedAttributes=members`, ""},
		{"PATCH", "/Groups/g", "", `{"Operations":[{"op":"Remove","path":"members","value":[{"value":"x"}]}]}`},
		{"GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", "", ""},
		{"DELETE", "/Users/%zz", "", ""},
		{"GET", "/Users", `sortBy=emails.type&sortOrder=descending&filter=title pr`, ""},
		{"POST", "/Users/.search", "", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName sw \"f\"","sortBy":"name.familyName","startIndex":2,"count":3}`},
		{"POST", "/.search", "", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName pr or members pr","sortBy":"displayName","attributes":["members"]}`},
		{"GET", "/", `filter=meta.resourceType eq "Group"&startIndex=2&count=1`, ""},
		{"PUT", "/Groups/g", "attributes=members", `{"displayName":"G","members":[{"value":"x"}]}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, []byte(s.body))
	}
	w := newTestWorker(f)
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte) {
		reply, err := w.Handle(context.Background(), &scimworker.Exchange{Method: method, Path: path, RawQuery: query, Body: body})
		if err != nil {
			t.Fatalf("handle: %v", err)
		}
		if reply.Status >= 500 || reply.Status < 200 {
			t.Fatalf("%s %s?%s %q: status %d: %s", method, path, query, body, reply.Status, reply.Body)
		}
	})
}
