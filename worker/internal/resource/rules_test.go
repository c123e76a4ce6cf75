package resource

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scim"
)

const urnEnt = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// TestKind_Read_MultiValuedRules: POST and PUT bodies (RFC 7643 section
// 2.4): at most one primary value, each (value, type) once.
func TestKind_Read_MultiValuedRules(t *testing.T) {
	user, group := NewSchemas().Kinds()
	tests := []struct {
		name    string
		kind    *Kind
		body    string
		attr    string // attribute to compare with want
		want    string // JSON; "" when an error is expected
		errType string
	}{
		{name: "one primary", body: `{"userName":"a","emails":[{"value":"a@x","type":"work","primary":true},{"value":"b@x","type":"home"}]}`,
			attr: "emails", want: `[{"value":"a@x","type":"work","primary":true},{"value":"b@x","type":"home"}]`},
		{name: "two primary emails", body: `{"userName":"a","emails":[{"value":"a@x","type":"work","primary":true},{"value":"b@x","type":"home","primary":true}]}`,
			errType: scim.TypeInvalidValue},
		{name: "two primary, as Entra's strings", body: `{"userName":"a","phoneNumbers":[{"value":"1","type":"work","primary":"True"},{"value":"2","type":"mobile","Primary":"true"}]}`,
			errType: scim.TypeInvalidValue},
		{name: "two primary addresses", body: `{"userName":"a","addresses":[{"type":"work","locality":"A","primary":true},{"type":"home","locality":"B","primary":true}]}`,
			errType: scim.TypeInvalidValue},
		{name: "two primary roles", body: `{"userName":"a","roles":[{"value":"r1","primary":true},{"value":"r2","primary":true}]}`,
			errType: scim.TypeInvalidValue},
		{name: "Entra AppRoleAssignmentsComplex: every role primary false", body: `{"userName":"a","roles":[
			{"primary":false,"type":"WindowsAzureActiveDirectoryRole","value":"Admin"},{"primary":false,"type":"WindowsAzureActiveDirectoryRole","value":"Reader"}]}`,
			attr: "roles", want: `[{"primary":false,"type":"WindowsAzureActiveDirectoryRole","value":"Admin"},{"primary":false,"type":"WindowsAzureActiveDirectoryRole","value":"Reader"}]`},
		{name: "primary True and False strings", body: `{"userName":"a","emails":[{"value":"a@x","type":"work","primary":"True"},{"value":"b@x","type":"home","primary":"False"}]}`,
			attr: "emails", want: `[{"value":"a@x","type":"work","primary":true},{"value":"b@x","type":"home","primary":false}]`},
		{name: "identical value and type collapse", body: `{"userName":"a","emails":[{"value":"a@x","type":"work"},{"value":"a@x","type":"work","primary":true}]}`,
			attr: "emails", want: `[{"value":"a@x","type":"work","primary":true}]`},
		{name: "a duplicate that is also primary is not two primaries", body: `{"userName":"a","emails":[{"value":"a@x","type":"work","primary":true},{"value":"a@x","type":"work","primary":true}]}`,
			attr: "emails", want: `[{"value":"a@x","type":"work","primary":true}]`},
		{name: "emails compare case-insensitively (caseExact false); the first spelling stays", body: `{"userName":"a","emails":[{"value":"A@X","type":"Work"},{"value":"a@x","type":"work","display":"A"}]}`,
			attr: "emails", want: `[{"value":"A@X","type":"Work","display":"A"}]`},
		{name: "same value, other type: both kept", body: `{"userName":"a","emails":[{"value":"a@x","type":"work"},{"value":"a@x","type":"home"}]}`,
			attr: "emails", want: `[{"value":"a@x","type":"work"},{"value":"a@x","type":"home"}]`},
		{name: "identical complex values without value collapse", body: `{"userName":"a","addresses":[{"type":"work","locality":"A"},{"type":"work","locality":"A"},{"type":"work","locality":"B"}]}`,
			attr: "addresses", want: `[{"type":"work","locality":"A"},{"type":"work","locality":"B"}]`},
		{name: "a single value is kept", body: `{"userName":"a","emails":{"value":"a@x","primary":true}}`,
			attr: "emails", want: `[{"value":"a@x","primary":true}]`},
		{name: "group members given twice", kind: group, body: `{"displayName":"g","members":[{"value":"u1"},{"value":"u1"},{"value":"U1"}]}`,
			attr: "members", want: `[{"value":"u1"},{"value":"U1"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind := tt.kind
			if kind == nil {
				kind = user
			}
			doc, _, err := kind.Read([]byte(tt.body))
			if tt.errType != "" {
				requireSCIMError(t, err, 400, tt.errType)
				return
			}
			require.NoError(t, err)
			got, _ := json.Marshal(doc[tt.attr])
			require.JSONEq(t, tt.want, string(got))
		})
	}
}

// TestKind_IndexedValueLength: values the store indexes are bounded to
// MaxIndexedBytes bytes of UTF-8 in every write path.
func TestKind_IndexedValueLength(t *testing.T) {
	user, group := NewSchemas().Kinds()
	atLimit := strings.Repeat("a", MaxIndexedBytes)
	over := atLimit + "a"
	emoji := strings.Repeat("😀", MaxIndexedBytes/4)    // 4 bytes each: exactly at the limit
	capitals := strings.Repeat("Ⱥ", MaxIndexedBytes/2) // 2 bytes, 3 once lower()ed
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	patch := func(ops string) string {
		return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":` + ops + `}`
	}
	tests := []struct {
		name    string
		kind    *Kind
		post    string // a POST/PUT body, or
		patch   string // a PATCH body applied to a stored user or group
		wantErr bool
	}{
		{name: "userName at the limit", post: `{"userName":` + q(atLimit) + `}`},
		{name: "userName one byte over", post: `{"userName":` + q(over) + `}`, wantErr: true},
		{name: "userName of 4-byte characters at the limit", post: `{"userName":` + q(emoji) + `}`},
		{name: "userName of 4-byte characters one byte over", post: `{"userName":` + q(emoji+"a") + `}`, wantErr: true},
		{name: "userName ending in a 2-byte character at the limit", post: `{"userName":` + q(atLimit[2:]+"é") + `}`},
		{name: "userName whose last 2-byte character crosses the limit", post: `{"userName":` + q(atLimit[1:]+"é") + `}`, wantErr: true},
		{name: "userName of capitals that grow under lower()", post: `{"userName":` + q(capitals) + `}`},
		{name: "Entra-sized userPrincipalName", post: `{"userName":` + q(strings.Repeat("u", 100)+"@contoso.com") + `}`},
		{name: "displayName over", post: `{"userName":"a","displayName":` + q(over) + `}`, wantErr: true},
		{name: "externalId over", post: `{"userName":"a","externalId":` + q(over) + `}`, wantErr: true},
		{name: "emails value over", post: `{"userName":"a","emails":[{"value":` + q(over) + `}]}`, wantErr: true},
		{name: "emails value at the limit", post: `{"userName":"a","emails":[{"value":` + q(atLimit) + `}]}`},
		{name: "manager as a bare id over", post: `{"userName":"a","` + urnEnt + `":{"manager":` + q(over) + `}}`, wantErr: true},
		{name: "unindexed attributes are not bounded", post: `{"userName":"a","title":` + q(over+over) + `,"emails":[{"value":"a@x","display":` + q(over) + `}]}`},
		{name: "group displayName over", kind: group, post: `{"displayName":` + q(over) + `}`, wantErr: true},
		{name: "group externalId over", kind: group, post: `{"displayName":"g","externalId":` + q(over) + `}`, wantErr: true},
		{name: "group displayName at the limit", kind: group, post: `{"displayName":` + q(atLimit) + `}`},
		{name: "PATCH replace userName over", patch: patch(`[{"op":"replace","path":"userName","value":` + q(over) + `}]`), wantErr: true},
		{name: "PATCH replace userName at the limit", patch: patch(`[{"op":"Replace","path":"userName","value":` + q(atLimit) + `}]`)},
		{name: "PATCH path-less displayName over", patch: patch(`[{"op":"replace","value":{"displayName":` + q(over) + `}}]`), wantErr: true},
		{name: "PATCH filtered email value over", patch: patch(`[{"op":"replace","path":"emails[type eq \"work\"].value","value":` + q(over) + `}]`), wantErr: true},
		{name: "PATCH manager over", patch: patch(`[{"op":"Add","path":"` + urnEnt + `:manager","value":` + q(over) + `}]`), wantErr: true},
		{name: "PATCH externalId over", patch: patch(`[{"op":"add","path":"externalId","value":` + q(over) + `}]`), wantErr: true},
		{name: "PATCH group displayName over", kind: group, patch: patch(`[{"op":"replace","path":"displayName","value":` + q(over) + `}]`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind := tt.kind
			if kind == nil {
				kind = user
			}
			var err error
			if tt.post != "" {
				_, _, err = kind.Read([]byte(tt.post))
			} else {
				stored := Doc{"userName": "a", "emails": []any{map[string]any{"type": "work", "value": "w@x"}}}
				if kind == group {
					stored = Doc{"displayName": "g"}
				}
				_, err = kind.Patch(stored, []byte(tt.patch))
			}
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			requireSCIMError(t, err, 400, scim.TypeInvalidValue)
			require.Contains(t, err.Error(), "at most 1024 bytes")
		})
	}
}

func requireSCIMError(t *testing.T, err error, status int, scimType string) {
	t.Helper()
	require.Error(t, err)
	se, ok := err.(*scim.Error)
	require.True(t, ok, "want a *scim.Error, got %T: %v", err, err)
	require.Equal(t, status, se.Status, se.Detail)
	require.Equal(t, scimType, se.ScimType, se.Detail)
}
