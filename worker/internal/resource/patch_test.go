package resource

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKind_Patch(t *testing.T) {
	user, group := NewSchemas().Kinds()
	base := `{"userName":"a@b","active":true,"name":{"givenName":"A","familyName":"B"},
		"emails":[{"type":"work","value":"w@b","primary":true},{"type":"home","value":"h@b"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D","manager":{"value":"m1"}}}`
	tests := []struct {
		name    string
		kind    *Kind
		ops     string
		want    string // JSON of the expected document, or "" when wantErr
		members []MemberOp
		errType string
	}{
		{name: "replace simple, op in capitals", ops: `[{"op":"Replace","path":"userName","value":"x@b"}]`,
			want: `{"userName":"x@b"}`},
		{name: "string boolean", ops: `[{"op":"Replace","path":"active","value":"False"}]`, want: `{"active":false}`},
		{name: "filtered sub-attribute keeps siblings", ops: `[{"op":"replace","path":"emails[type eq \"work\"].value","value":"n@b"}]`,
			want: `{"emails":[{"type":"work","value":"n@b","primary":true},{"type":"home","value":"h@b"}]}`},
		{name: "filtered add creates the element", ops: `[{"op":"Add","path":"phoneNumbers[type eq \"fax\"].value","value":"1"}]`,
			want: `{"phoneNumbers":[{"type":"fax","value":"1"}]}`},
		{name: "remove filtered element", ops: `[{"op":"remove","path":"emails[type eq \"home\"]"}]`,
			want: `{"emails":[{"type":"work","value":"w@b","primary":true}]}`},
		{name: "remove by value array", ops: `[{"op":"remove","path":"emails","value":[{"value":"h@b"}]}]`,
			want: `{"emails":[{"type":"work","value":"w@b","primary":true}]}`},
		{name: "dotted keys in path-less replace", ops: `[{"op":"replace","value":{"name.givenName":"Z","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Ops"}}]`,
			want: `{"name":{"givenName":"Z","familyName":"B"},"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops","manager":{"value":"m1"}}}`},
		{name: "complex value merges", ops: `[{"op":"replace","path":"name","value":{"middleName":"Q"}}]`,
			want: `{"name":{"givenName":"A","familyName":"B","middleName":"Q"}}`},
		{name: "manager bare id", ops: `[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m2"}]`,
			want: `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D","manager":{"value":"m2"}}}`},
		{name: "manager cleared with null", ops: `[{"op":"replace","path":"manager","value":null}]`,
			want: `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D"}}`},
		{name: "whole extension removed", ops: `[{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}]`,
			want: `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":null}`},
		{name: "unknown attribute ignored", ops: `[{"op":"replace","path":"shoeSize","value":"42"}]`, want: `{}`},
		{name: "bad op", ops: `[{"op":"move","path":"title","value":"x"}]`, errType: "invalidSyntax"},
		{name: "required cleared", ops: `[{"op":"remove","path":"userName"}]`, errType: "mutability"},
		{name: "bad path", ops: `[{"op":"replace","path":"emails[type eq","value":"x"}]`, errType: "invalidPath"},
		{name: "filtered add with non-eq filter and no match", ops: `[{"op":"add","path":"emails[type co \"x\"].value","value":"x"}]`, errType: "noTarget"},
		{name: "path-less value must be an object", ops: `[{"op":"replace","value":"x"}]`, errType: "invalidValue"},
		// RFC 7643 section 2.4 / RFC 7644 section 3.5.2: one primary value.
		{name: "added primary email takes primary from the others", ops: `[{"op":"add","path":"emails","value":[{"value":"n@b","type":"other","primary":true}]}]`,
			want: `{"emails":[{"type":"work","value":"w@b","primary":false},{"type":"home","value":"h@b"},{"type":"other","value":"n@b","primary":true}]}`},
		{name: "filtered primary as Entra's string", ops: `[{"op":"Replace","path":"emails[type eq \"home\"].primary","value":"True"}]`,
			want: `{"emails":[{"type":"work","value":"w@b","primary":false},{"type":"home","value":"h@b","primary":true}]}`},
		{name: "path-less replace of emails with one primary", ops: `[{"op":"replace","value":{"emails":[{"value":"z@b","type":"work","primary":true}]}}]`,
			want: `{"emails":[{"type":"work","value":"z@b","primary":true}]}`},
		{name: "filter creating a primary role", ops: `[{"op":"add","path":"roles[primary eq \"True\"].value","value":"Admin"}]`,
			want: `{"roles":[{"primary":true,"value":"Admin"}]}`},
		{name: "adding two primary values", ops: `[{"op":"add","path":"emails","value":[{"value":"1@b","primary":true},{"value":"2@b","primary":true}]}]`,
			errType: "invalidValue"},
		{name: "replacing with two primary values", ops: `[{"op":"replace","path":"emails","value":[{"value":"1@b","primary":true},{"value":"2@b","primary":"True"}]}]`,
			errType: "invalidValue"},
		{name: "a filter making two values primary", ops: `[{"op":"replace","path":"emails[value co \"@b\"].primary","value":true}]`,
			errType: "invalidValue"},
		{name: "adding an email that is there collapses into it", ops: `[{"op":"add","path":"emails","value":[{"value":"W@B","type":"Work","display":"Work"}]}]`,
			want: `{"emails":[{"type":"work","value":"w@b","primary":true,"display":"Work"},{"type":"home","value":"h@b"}]}`},
		{name: "a filtered replace that makes two values equal collapses them", ops: `[{"op":"replace","path":"emails[type eq \"home\"]","value":{"type":"work","value":"w@b"}}]`,
			want: `{"emails":[{"type":"work","value":"w@b","primary":true}]}`},
		{name: "roles added twice, as Entra re-sends them", ops: `[{"op":"Add","path":"roles","value":[{"value":"r"}]},{"op":"Add","path":"roles","value":[{"value":"r"}]}]`,
			want: `{"roles":[{"value":"r"}]}`},
		// Removing active deactivates (see patcher.applyTarget).
		{name: "remove active", ops: `[{"op":"remove","path":"active"}]`, want: `{"active":false}`},
		{name: "Remove active, any case", ops: `[{"op":"Remove","path":"ACTIVE"}]`, want: `{"active":false}`},
		{name: "replace active with null", ops: `[{"op":"replace","path":"active","value":null}]`, want: `{"active":false}`},
		{name: "replace active with an empty string", ops: `[{"op":"replace","path":"active","value":""}]`, want: `{"active":false}`},
		{name: "path-less null active", ops: `[{"op":"replace","value":{"active":null}}]`, want: `{"active":false}`},
		{name: "removed, then set again", ops: `[{"op":"remove","path":"active"},{"op":"add","path":"active","value":"True"}]`, want: `{"active":true}`},
		// RFC 7644 section 3.5.2.1/3.5.2.3: add and replace carry a value.
		{name: "add without value", ops: `[{"op":"add","path":"title"}]`, errType: "invalidValue"},
		{name: "replace without value", ops: `[{"op":"Replace","path":"name.givenName"}]`, errType: "invalidValue"},
		{name: "read-only sub-attribute", ops: `[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName","value":"Boss"}]`,
			errType: "mutability"},
		{name: "read-only sub-attribute removed", ops: `[{"op":"remove","path":"manager.$ref"}]`, errType: "mutability"},
		// RFC 7643 section 3.1: meta is read-only; RFC 7644 section 3.5.2.
		{name: "meta replaced", ops: `[{"op":"replace","path":"meta","value":{"created":"2000-01-01T00:00:00Z"}}]`, errType: "mutability"},
		{name: "meta sub-attribute replaced", ops: `[{"op":"Replace","path":"META.lastModified","value":"x"}]`, errType: "mutability"},
		{name: "meta through the core URN removed", ops: `[{"op":"remove","path":"urn:ietf:params:scim:schemas:core:2.0:User:meta.version"}]`, errType: "mutability"},
		{name: "path-less meta ignored", ops: `[{"op":"replace","value":{"meta":{"version":"x"},"meta.created":"x","title":"T"}}]`, want: `{"title":"T"}`},
		{name: "members: immutable sub-attribute", kind: group, ops: `[{"op":"replace","path":"members[value eq \"u1\"].value","value":"u2"}]`,
			errType: "mutability"},
		{name: "members: legacy remove with value", kind: group, ops: `[{"op":"Remove","path":"members","value":[{"value":"u1"},{"value":"u2"}]}]`,
			members: []MemberOp{{Kind: MembersRemove, IDs: []string{"u1", "u2"}}}},
		{name: "members: flag remove by filter", kind: group, ops: `[{"op":"remove","path":"members[value eq \"u1\" or value eq \"u2\"]"}]`,
			members: []MemberOp{{Kind: MembersRemove, IDs: []string{"u1", "u2"}}}},
		{name: "members: add then remove all, in order", kind: group, ops: `[{"op":"add","path":"members","value":[{"value":"u1"}]},{"op":"remove","path":"members"}]`,
			members: []MemberOp{{Kind: MembersAdd, IDs: []string{"u1"}}, {Kind: MembersRemoveAll}}},
		{name: "members: path-less replace", kind: group, ops: `[{"op":"replace","value":{"members":[{"value":"u9"}],"displayName":"G2"}}]`,
			members: []MemberOp{{Kind: MembersReplace, IDs: []string{"u9"}}}},
		{name: "members: unsupported filter", kind: group, ops: `[{"op":"remove","path":"members[display co \"x\"]"}]`, errType: "invalidFilter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind := tt.kind
			if kind == nil {
				kind = user
			}
			doc, _, err := kind.Read([]byte(base))
			require.NoError(t, err)
			if kind == group {
				doc = Doc{"displayName": "G"}
			}
			snapshot, _ := json.Marshal(doc)
			res, err := kind.Patch(doc, []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+tt.ops+`}`))
			after, _ := json.Marshal(doc)
			require.JSONEq(t, string(snapshot), string(after), "the input document must never change")
			if tt.errType != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tt.errType)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.members, res.Members)
			if tt.want == "" {
				return
			}
			var want map[string]any
			require.NoError(t, json.Unmarshal([]byte(tt.want), &want))
			got, _ := json.Marshal(res.Doc)
			var gotMap map[string]any
			require.NoError(t, json.Unmarshal(got, &gotMap))
			for k, v := range want {
				if v == nil {
					require.NotContains(t, gotMap, k)
					continue
				}
				require.Equal(t, v, gotMap[k], "attribute %s in %s", k, got)
			}
		})
	}
}

func FuzzPatch(f *testing.F) {
	for _, s := range []string{
		`{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
		`{"Operations":[{"op":"replace","value":{"name.givenName":"x"}}]}`,
		`{"Operations":[{"op":"remove","path":"members[value eq \"u\"]"}]}`,
		`{"Operations":[{"op":"add","path":"emails[type eq \"work\"].value","value":"a"}]}`,
		`{"Operations":[{"op":"add","path":"emails","value":[{"value":"b","type":"home","primary":"True"}]}]}`,
		`{"Operations":[{"op":"replace","path":"emails[type eq \"work\"].primary","value":true},{"op":"remove","path":"active"}]}`,
	} {
		f.Add([]byte(s))
	}
	user, group := NewSchemas().Kinds()
	doc, _, _ := user.Read([]byte(`{"userName":"a","emails":[{"type":"work","value":"x","primary":true},{"type":"other","value":"y"}],"name":{"givenName":"g"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if res, err := user.Patch(doc, body); err == nil {
			if _, err := json.Marshal(res.Doc); err != nil {
				t.Fatalf("patched document does not marshal: %v", err)
			}
			// Whatever succeeds keeps the rules a stored document obeys.
			for name, v := range res.Doc {
				list, _ := v.([]any)
				primaries := 0
				for _, item := range list {
					if isPrimary(item) {
						primaries++
					}
				}
				if primaries > 1 {
					t.Fatalf("%s has %d primary values: %v", name, primaries, list)
				}
			}
			if err := user.checkLengths(res.Doc); err != nil {
				t.Fatalf("patched document breaks a length bound: %v", err)
			}
		}
		_, _ = group.Patch(Doc{"displayName": "g"}, body)
		_, _, _ = user.Read(body)
	})
}
