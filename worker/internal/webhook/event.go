// Package webhook sends a tenant's changes to the endpoints its admins
// subscribe: events built from the change feed's committed rows, signed
// the Standard Webhooks way, delivered at least once from an outbox in the
// tenant's schema, in order per user, retried with exponential back-off
// and guarded against requests into private networks.
package webhook

import (
	"encoding/json"
	"time"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
)

// Change is a committed row of the change feed.
type Change struct {
	// Xid and Seq are its position in the feed.
	Xid     string
	Seq     int64
	At      time.Time
	Kind    string
	UserID  string
	GroupID string
	Detail  json.RawMessage
}

// Event is a change as webhooks send it: its type, the key its order is
// kept by (the user it concerns, or the group), when it committed and the
// body every subscribed endpoint receives.
type Event struct {
	Type     string
	OrderKey string
	At       time.Time
	Body     []byte
}

// body is a delivery's JSON body.
type body struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// Data of the events (documented in docs/webhooks.md).
type (
	// UserData is the data of user.created, user.updated and
	// user.deactivated.
	UserData struct {
		ID string `json:"id"`
		provision.UserDetail
	}
	// GroupData is the data of group.created and group.updated.
	GroupData struct {
		ID string `json:"id"`
		provision.GroupDetail
	}
	// DeletedData is the data of user.deleted and group.deleted.
	DeletedData struct {
		ID string `json:"id"`
	}
	// MemberData is the data of group.member_added and
	// group.member_removed.
	MemberData struct {
		GroupID string `json:"group_id"`
		UserID  string `json:"user_id"`
	}
	// PermissionSets is a user's permissions and permission sets at one
	// moment.
	PermissionSets struct {
		Permissions []string `json:"permissions"`
		Sets        []string `json:"sets"`
	}
	// PermissionsData is the data of permissions.changed.
	PermissionsData struct {
		UserID        string         `json:"user_id"`
		Before        PermissionSets `json:"before"`
		After         PermissionSets `json:"after"`
		Gained        []string       `json:"gained"`
		Lost          []string       `json:"lost"`
		PolicyVersion int64          `json:"policy_version"`
	}
)

// kinds maps the feed's kinds to event types.
var kinds = map[string]string{
	provision.ChangeUserCreated:        scimworker.EventUserCreated,
	provision.ChangeUserUpdated:        scimworker.EventUserUpdated,
	provision.ChangeUserDeactivated:    scimworker.EventUserDeactivated,
	provision.ChangeUserDeleted:        scimworker.EventUserDeleted,
	provision.ChangeGroupCreated:       scimworker.EventGroupCreated,
	provision.ChangeGroupUpdated:       scimworker.EventGroupUpdated,
	provision.ChangeGroupDeleted:       scimworker.EventGroupDeleted,
	provision.ChangeMemberAdded:        scimworker.EventGroupMemberAdded,
	provision.ChangeMemberRemoved:      scimworker.EventGroupMemberRemoved,
	provision.ChangePermissionsChanged: scimworker.EventPermissionsChanged,
}

// FromChange builds the event of a change; ok is false for a kind that
// has no event or a detail that cannot be read.
func FromChange(c Change) (Event, bool) {
	typ, ok := kinds[c.Kind]
	if !ok {
		return Event{}, false
	}
	key := c.UserID
	var data any
	switch c.Kind {
	case provision.ChangeUserCreated, provision.ChangeUserUpdated, provision.ChangeUserDeactivated:
		d := UserData{ID: c.UserID}
		if err := json.Unmarshal(c.Detail, &d.UserDetail); err != nil {
			return Event{}, false
		}
		data = d
	case provision.ChangeUserDeleted:
		data = DeletedData{ID: c.UserID}
	case provision.ChangeGroupCreated, provision.ChangeGroupUpdated:
		d := GroupData{ID: c.GroupID}
		if err := json.Unmarshal(c.Detail, &d.GroupDetail); err != nil {
			return Event{}, false
		}
		data, key = d, c.GroupID
	case provision.ChangeGroupDeleted:
		data, key = DeletedData{ID: c.GroupID}, c.GroupID
	case provision.ChangeMemberAdded, provision.ChangeMemberRemoved:
		data = MemberData{GroupID: c.GroupID, UserID: c.UserID}
	case provision.ChangePermissionsChanged:
		var d provision.PermissionsDetail
		if err := json.Unmarshal(c.Detail, &d); err != nil {
			return Event{}, false
		}
		data = PermissionsData{
			UserID: c.UserID,
			Before: PermissionSets{Permissions: nonNil(d.Before), Sets: nonNil(d.SetsBefore)},
			After:  PermissionSets{Permissions: nonNil(d.Permissions), Sets: nonNil(d.Sets)},
			Gained: nonNil(d.Gained), Lost: nonNil(d.Lost), PolicyVersion: d.PolicyVersion,
		}
	}
	return Event{Type: typ, OrderKey: key, At: c.At, Body: Body(typ, c.At, data)}, true
}

// Body is a delivery's body: {"type", "timestamp", "data"}.
func Body(typ string, at time.Time, data any) []byte {
	b, _ := json.Marshal(body{Type: typ, Timestamp: at.UTC(), Data: data}) // plain structs
	return b
}

// TestEvent is the body TestWebhook sends.
func TestEvent(webhookID string, at time.Time) Event {
	return Event{Type: scimworker.EventTest, OrderKey: "test", At: at,
		Body: Body(scimworker.EventTest, at, map[string]string{"webhook_id": webhookID})}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
