package provision

import "github.com/scimplane/scimplane/worker/internal/resource"

// Change feed kinds. Every committed write records its changes in its own
// transaction; webhooks are built from the same rows.
const (
	ChangeUserCreated        = "user_created"
	ChangeUserUpdated        = "user_updated"
	ChangeUserDeactivated    = "user_deactivated"
	ChangeUserDeleted        = "user_deleted"
	ChangeGroupCreated       = "group_created"
	ChangeGroupUpdated       = "group_updated"
	ChangeGroupDeleted       = "group_deleted"
	ChangeMemberAdded        = "member_added"
	ChangeMemberRemoved      = "member_removed"
	ChangePermissionsChanged = "permissions_changed"
)

// UserDetail is the detail of a user's created, updated and deactivated
// changes: the attributes a consumer identifies the user by.
type UserDetail struct {
	UserName    string `json:"userName"`
	ExternalID  string `json:"externalId,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Active      bool   `json:"active"`
}

// GroupDetail is the detail of a group's created and updated changes.
type GroupDetail struct {
	DisplayName string `json:"displayName"`
	ExternalID  string `json:"externalId,omitempty"`
}

// PermissionsDetail is the detail of a permissions_changed change: the
// user's permissions and permission sets before and after, and the
// difference.
type PermissionsDetail struct {
	Permissions   []string `json:"permissions"`
	Before        []string `json:"before"`
	Sets          []string `json:"sets"`
	SetsBefore    []string `json:"sets_before"`
	Gained        []string `json:"gained"`
	Lost          []string `json:"lost"`
	PolicyVersion int64    `json:"policy_version"`
}

// active reads a stored user's active attribute, true when absent.
func active(doc resource.Doc) bool {
	b, ok := doc["active"].(bool)
	return !ok || b
}

func userDetail(doc resource.Doc) UserDetail {
	d := UserDetail{Active: active(doc)}
	d.UserName, _ = doc["userName"].(string)
	d.ExternalID, _ = doc["externalId"].(string)
	d.DisplayName, _ = doc["displayName"].(string)
	return d
}

func groupDetail(doc resource.Doc) GroupDetail {
	var d GroupDetail
	d.DisplayName, _ = doc["displayName"].(string)
	d.ExternalID, _ = doc["externalId"].(string)
	return d
}

// userUpdated is the change a user's update makes: deactivated when it
// turns active off, updated otherwise.
func userUpdated(id string, before, after resource.Doc) Change {
	kind := ChangeUserUpdated
	if active(before) && !active(after) {
		kind = ChangeUserDeactivated
	}
	return Change{Kind: kind, UserID: id, Detail: userDetail(after)}
}
