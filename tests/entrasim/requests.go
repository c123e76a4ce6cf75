package entrasim

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// SCIM schema URNs Entra sends.
const (
	URNUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	URNGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	URNEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	URNPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	URNListResp   = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	URNError      = "urn:ietf:params:scim:api:messages:2.0:Error"
	// URNMSGroup is the Microsoft schema Entra adds to every group it creates.
	URNMSGroup = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
)

// Dialect is the PATCH dialect Entra speaks to a Tenant URL.
type Dialect int

const (
	// Legacy is Entra's default: capitalised ops, "True"/"False" strings,
	// one op per path, members removed with path "members" and a value.
	Legacy Dialect = iota
	// Flag is what a Tenant URL with ?aadOptscim062020 gets: lower-case ops,
	// booleans, path-less replace with dotted and URN keys, members removed
	// with a members[value eq "..."] path.
	Flag
)

// FlagParam is the query parameter that switches Entra to the Flag dialect.
const FlagParam = "aadOptscim062020"

// ParseDialect reads "legacy" or "flag".
func ParseDialect(s string) (Dialect, error) {
	switch s {
	case "legacy":
		return Legacy, nil
	case "flag", FlagParam:
		return Flag, nil
	}
	return 0, fmt.Errorf("unknown dialect %q (want legacy or flag)", s)
}

func (d Dialect) String() string {
	if d == Flag {
		return "flag"
	}
	return "legacy"
}

// op spells a PATCH op name the way the dialect does.
func (d Dialect) op(name string) string {
	if d == Flag {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// active spells a boolean the way the dialect does: "True"/"False" strings
// in Legacy, JSON booleans with the flag.
func (d Dialect) active(b bool) any {
	if d == Flag {
		return b
	}
	if b {
		return "True"
	}
	return "False"
}

// Request is one SCIM call: a path relative to the Tenant URL, its query and
// a JSON body, and the statuses that count as success.
type Request struct {
	Method string     `json:"method"`
	Path   string     `json:"path"`
	Query  url.Values `json:"query,omitempty"`
	Body   any        `json:"body,omitempty"`
	Want   []int      `json:"-"`
}

// Op is one PATCH operation. A nil Value is left out, as Entra does for a
// Remove without value.
type Op struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

func patch(path string, ops []Op) Request {
	return Request{Method: http.MethodPatch, Path: path, Want: []int{200, 204},
		Body: map[string]any{"schemas": []string{URNPatchOp}, "Operations": ops}}
}

// filterQuery is `filter=<attr> eq "<value>"` plus extra parameters.
func filterQuery(filter string, extra ...string) url.Values {
	q := url.Values{"filter": {filter}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q
}

func eq(attr, value string) string { return fmt.Sprintf("%s eq %q", attr, value) }

// ProbeUsers and ProbeGroups are Test Connection's lookups of a random GUID
// that cannot exist (B3).
func ProbeUsers(guid string) Request {
	return Request{Method: http.MethodGet, Path: "/Users", Query: filterQuery(eq("userName", guid)), Want: []int{200}}
}

func ProbeGroups(guid string) Request {
	return Request{Method: http.MethodGet, Path: "/Groups",
		Query: filterQuery(eq("displayName", guid), "excludedAttributes", "members"), Want: []int{200}}
}

// LookupUser is the match by userName before create (B5).
func LookupUser(upn string) Request {
	return Request{Method: http.MethodGet, Path: "/Users", Query: filterQuery(eq("userName", upn)), Want: []int{200}}
}

// CreateUser is Entra's POST /Users with the default mappings (B6): client
// meta, roles: [], active spelled per dialect, null for an empty title and
// for the manager (set later by PATCH).
func CreateUser(u *User, d Dialect) Request {
	var title any
	if u.Title != "" {
		title = u.Title
	}
	return Request{Method: http.MethodPost, Path: "/Users", Want: []int{201}, Body: map[string]any{
		"schemas":           []string{URNUser, URNEnterprise},
		"externalId":        u.MailNickname,
		"userName":          u.UPN,
		"active":            d.active(u.Enabled),
		"displayName":       u.DisplayName,
		"title":             title,
		"preferredLanguage": "en-US",
		"emails":            []any{map[string]any{"primary": true, "type": "work", "value": u.Mail}},
		"name":              map[string]any{"formatted": u.DisplayName, "familyName": u.Surname, "givenName": u.GivenName},
		"phoneNumbers": []any{
			map[string]any{"type": "work", "value": u.WorkPhone},
			map[string]any{"type": "mobile", "value": u.Mobile},
		},
		"addresses": []any{map[string]any{
			"type": "work", "formatted": u.Street, "streetAddress": u.Street, "locality": u.City,
			"region": u.Region, "postalCode": u.PostalCode, "country": u.Country,
		}},
		"meta":    map[string]any{"resourceType": "User"},
		"roles":   []any{},
		"manager": nil,
		URNEnterprise: map[string]any{
			"employeeNumber": u.EmployeeNumber,
			"department":     u.Department,
		},
	}}
}

// GetUser reads a user by id (B8).
func GetUser(id string) Request {
	return Request{Method: http.MethodGet, Path: "/Users/" + id, Want: []int{200}}
}

// ManagerCheck asks whether a user's manager is already set (B14).
func ManagerCheck(id, managerID string) Request {
	return Request{Method: http.MethodGet, Path: "/Users",
		Query: filterQuery(eq("id", id)+" and "+eq("manager", managerID), "attributes", "id"), Want: []int{200}}
}

// UserView is the part of a user that Entra maps and compares: what the sim
// expects to read back.
type UserView struct {
	UserName       string
	DisplayName    string
	GivenName      string
	FamilyName     string
	Title          string
	Mail           string
	WorkPhone      string
	Department     string
	EmployeeNumber string
	ManagerID      string
	Active         bool
}

// PatchUser is the PATCH Entra sends to turn have into want (B9-B16), or
// false if nothing differs. Legacy: one capitalised op per path, active as a
// string, manager removed by Remove without value. Flag: filtered paths as
// ops, the other attributes in one path-less replace with dotted and URN
// keys, active as a boolean, manager removed by manager[value eq "..."].
func PatchUser(id string, have, want UserView, d Dialect) (Request, bool) {
	var ops []Op
	pathless := map[string]any{}
	set := func(path, haveV, wantV string, filtered bool) {
		if haveV == wantV {
			return
		}
		if d == Flag && !filtered {
			pathless[path] = wantV
			return
		}
		ops = append(ops, Op{Op: d.op("replace"), Path: path, Value: wantV})
	}
	set("userName", have.UserName, want.UserName, false)
	set("displayName", have.DisplayName, want.DisplayName, false)
	set("name.givenName", have.GivenName, want.GivenName, false)
	set("name.familyName", have.FamilyName, want.FamilyName, false)
	set("title", have.Title, want.Title, false)
	set(`emails[type eq "work"].value`, have.Mail, want.Mail, true)
	set(`phoneNumbers[type eq "work"].value`, have.WorkPhone, want.WorkPhone, true)
	set(URNEnterprise+":department", have.Department, want.Department, false)
	set(URNEnterprise+":employeeNumber", have.EmployeeNumber, want.EmployeeNumber, false)
	if len(pathless) > 0 {
		ops = append(ops, Op{Op: "replace", Value: pathless})
	}
	if have.Active != want.Active {
		ops = append(ops, Op{Op: d.op("replace"), Path: "active", Value: d.active(want.Active)})
	}
	if have.ManagerID != want.ManagerID {
		ops = append(ops, managerOp(have.ManagerID, want.ManagerID, d))
	}
	if len(ops) == 0 {
		return Request{}, false
	}
	return patch("/Users/"+id, ops), true
}

// managerOp sets, changes or removes the manager reference (B14). Entra sends
// the manager as a bare id.
func managerOp(have, want string, d Dialect) Op {
	path := URNEnterprise + ":manager"
	switch {
	case want == "" && d == Flag:
		return Op{Op: "remove", Path: fmt.Sprintf("manager[value eq %q]", have)}
	case want == "":
		return Op{Op: "Remove", Path: path}
	case have == "":
		return Op{Op: d.op("add"), Path: path, Value: want}
	}
	return Op{Op: d.op("replace"), Path: path, Value: want}
}

// DeleteUser purges a user (B18); 404 counts as done for a retried delete.
func DeleteUser(id string) Request {
	return Request{Method: http.MethodDelete, Path: "/Users/" + id, Want: []int{204, 404}}
}

// LookupGroup is the match by displayName before create (B19).
func LookupGroup(name string) Request {
	return Request{Method: http.MethodGet, Path: "/Groups",
		Query: filterQuery(eq("displayName", name), "excludedAttributes", "members"), Want: []int{200}}
}

// CreateGroup is Entra's POST /Groups with the Microsoft schema URN and no
// members (B20).
func CreateGroup(g *Group) Request {
	return Request{Method: http.MethodPost, Path: "/Groups", Want: []int{201}, Body: map[string]any{
		"schemas":     []string{URNGroup, URNMSGroup},
		"externalId":  g.ObjectID,
		"displayName": g.DisplayName,
		"meta":        map[string]any{"resourceType": "Group"},
	}}
}

// GetGroup reads a group without its members (B21).
func GetGroup(id string) Request {
	return Request{Method: http.MethodGet, Path: "/Groups/" + id,
		Query: url.Values{"excludedAttributes": {"members"}}, Want: []int{200}}
}

// AddMembers adds a batch of members in one op (B22).
func AddMembers(groupID string, userIDs []string, d Dialect) Request {
	value := make([]any, len(userIDs))
	for i, id := range userIDs {
		value[i] = map[string]any{"$ref": nil, "value": id}
	}
	return patch("/Groups/"+groupID, []Op{{Op: d.op("add"), Path: "members", Value: value}})
}

// RemoveMembers removes members (B23). Legacy: one Remove of path "members"
// listing them as the value. Flag: one remove per member with a
// members[value eq "..."] path.
func RemoveMembers(groupID string, userIDs []string, d Dialect) Request {
	if d == Flag {
		ops := make([]Op, len(userIDs))
		for i, id := range userIDs {
			ops[i] = Op{Op: "remove", Path: fmt.Sprintf("members[value eq %q]", id)}
		}
		return patch("/Groups/"+groupID, ops)
	}
	value := make([]any, len(userIDs))
	for i, id := range userIDs {
		value[i] = map[string]any{"value": id}
	}
	return patch("/Groups/"+groupID, []Op{{Op: "Remove", Path: "members", Value: value}})
}

// MemberCheck asks whether a user is a member of a group (B24).
func MemberCheck(groupID, userID string) Request {
	return Request{Method: http.MethodGet, Path: "/Groups",
		Query: filterQuery(eq("id", groupID)+" and "+eq("members", userID), "attributes", "id"), Want: []int{200}}
}

// RenameGroup replaces the displayName (B25): a Replace op in Legacy, a
// path-less replace with the flag.
func RenameGroup(groupID, name string, d Dialect) Request {
	if d == Flag {
		return patch("/Groups/"+groupID, []Op{{Op: "replace", Value: map[string]any{"displayName": name}}})
	}
	return patch("/Groups/"+groupID, []Op{{Op: "Replace", Path: "displayName", Value: name}})
}

// DeleteGroup deletes a group (B26); 404 counts as done for a retried delete.
func DeleteGroup(id string) Request {
	return Request{Method: http.MethodDelete, Path: "/Groups/" + id, Want: []int{204, 404}}
}
