package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/scimplane/scimplane/plugins/scim"
	"github.com/scimplane/scimplane/worker/internal/resource"
	"github.com/scimplane/scimplane/worker/internal/scimlog"
)

// Service runs the SCIM use cases for one tenant.
type Service struct {
	store   Store
	catalog atomic.Pointer[catalog]
	now     func() time.Time
	log     *slog.Logger
	policy  atomic.Pointer[Policy]
}

// catalog is the schema set in force and its kinds.
type catalog struct {
	schemas     *resource.Schemas
	user, group *resource.Kind
}

// New returns a Service over store. Until SetPolicy is called, changes do
// not compute permissions.
func New(store Store, schemas *resource.Schemas, log *slog.Logger) *Service {
	s := &Service{store: store, now: time.Now, log: log}
	s.SetSchemas(schemas)
	return s
}

// SetSchemas puts a schema set in force (the tenant's declared extensions
// changed): requests that start later read, write, filter and advertise by
// it.
func (s *Service) SetSchemas(schemas *resource.Schemas) {
	u, g := schemas.Kinds()
	s.catalog.Store(&catalog{schemas: schemas, user: u, group: g})
}

// Schemas is the schema set in force.
func (s *Service) Schemas() *resource.Schemas { return s.catalog.Load().schemas }

// UserKind and GroupKind expose the resource kinds for request parsing.
func (s *Service) UserKind() *resource.Kind  { return s.catalog.Load().user }
func (s *Service) GroupKind() *resource.Kind { return s.catalog.Load().group }

// Call carries one exchange through a use case: the tenant's SCIM base for
// rendering and the exchange's SCIM log capture, which write use cases
// commit together with their change.
type Call struct {
	Base string
	Log  *scimlog.Capture
	// Projection is the request's attributes / excludedAttributes: it
	// trims every resource the use case answers with (RFC 7644 section 3.9
	// applies it to GET, POST, PUT and PATCH alike).
	Projection resource.Projection
	// Pre are the request's preconditions on the resource it addresses.
	Pre Preconditions
}

// Result is a successful SCIM response.
type Result struct {
	Status   int
	Body     []byte
	Location string
	ETag     string
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func notFound(kind, id string) *scim.Error {
	return scim.NewError(404, "", kind+" "+id+" not found")
}

func conflict(attr string) *scim.Error {
	return scim.NewError(409, scim.TypeUniqueness, attr+" already exists")
}

// inTx runs fn in a transaction; the log row fn queues with commit is
// written with it, or, if the transaction does not commit, by the caller
// after it.
func (s *Service) inTx(ctx context.Context, c *Call, fn func(Tx) error) error {
	return c.Log.Change(func() error { return s.store.InTx(ctx, fn) })
}

// commit finishes a write: the log row records the response and is queued
// in the change's transaction.
func (s *Service) commit(ctx context.Context, tx Tx, c *Call, status int, body []byte, summary string) error {
	return c.Log.WithChange(ctx, tx, status, body, summary)
}

func (c *Call) describeUser(id string, doc resource.Doc) {
	c.Log.ResourceType, c.Log.ResourceID = "User", id
	c.Log.UserName, _ = doc["userName"].(string)
	c.Log.ExternalID, _ = doc["externalId"].(string)
	c.Log.DisplayName, _ = doc["displayName"].(string)
}

func (c *Call) describeGroup(id string, doc resource.Doc) {
	c.Log.ResourceType, c.Log.ResourceID = "Group", id
	c.Log.ExternalID, _ = doc["externalId"].(string)
	c.Log.DisplayName, _ = doc["displayName"].(string)
}

func requireString(doc resource.Doc, attr string) error {
	if s, _ := doc[attr].(string); strings.TrimSpace(s) == "" {
		return scim.NewError(400, scim.TypeInvalidValue, attr+" is required")
	}
	return nil
}

// renderUser renders u under the call's projection.
func (s *Service) renderUser(c *Call, u *UserRecord) []byte {
	out := s.UserKind().Render(u.Doc, u.Meta, c.Base, nil)
	c.Projection.Apply(s.UserKind(), out)
	b, _ := json.Marshal(out)
	return b
}

// notModified is the answer to a GET whose If-None-Match matches: no body,
// the current entity tag.
func notModified(etag string) *Result { return &Result{Status: 304, ETag: etag} }

func (s *Service) userResult(c *Call, status int, u *UserRecord, body []byte) *Result {
	return &Result{Status: status, Body: body, Location: c.Base + "/Users/" + u.ID, ETag: u.ETag()}
}

func dropped(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return "; ignored unknown attributes " + strings.Join(names, ", ")
}

// readUser reads a POST or PUT body.
func (s *Service) readUser(body []byte) (resource.Doc, []string, error) {
	doc, ignored, err := s.UserKind().Read(body)
	if err != nil {
		return nil, nil, err
	}
	return doc, ignored, requireString(doc, "userName")
}

// CreateUser handles POST /Users.
func (s *Service) CreateUser(ctx context.Context, c *Call, body []byte) (*Result, error) {
	doc, ignored, err := s.readUser(body)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &UserRecord{Meta: resource.Meta{ID: newID(), Created: now, LastModified: now, Version: 1}, Doc: doc}
	c.describeUser(u.ID, doc)
	out := s.renderUser(c, u)
	// Everything a create writes is known up front: one round trip.
	err = s.inTx(ctx, c, func(tx Tx) error {
		if err := tx.InsertUser(ctx, u); err != nil {
			return err
		}
		if err := tx.RecordChanges(ctx, []Change{{Kind: ChangeUserCreated, UserID: u.ID, Detail: userDetail(doc)}}); err != nil {
			return err
		}
		// A new user is in no group yet: no need to read anything back.
		if err := s.apply(ctx, tx, []*Subject{{UserID: u.ID, User: PolicyInput(u.ID, doc), Version: -1}}); err != nil {
			return err
		}
		return s.commit(ctx, tx, c, 201, out, "created user "+c.Log.UserName+dropped(ignored))
	})
	if errors.Is(err, ErrConflict) {
		return nil, conflict("userName")
	}
	if err != nil {
		return nil, err
	}
	return s.userResult(c, 201, u, out), nil
}

// GetUser handles GET /Users/{id}.
func (s *Service) GetUser(ctx context.Context, c *Call, id string) (*Result, error) {
	u, err := s.store.GetUser(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, notFound("User", id)
	}
	if err != nil {
		return nil, err
	}
	c.describeUser(u.ID, u.Doc)
	if err := c.Pre.check(u.Version, true); errors.Is(err, errNotModified) {
		return notModified(u.ETag()), nil
	} else if err != nil {
		return nil, err
	}
	return s.userResult(c, 200, u, s.renderUser(c, u)), nil
}

// ReplaceUser handles PUT /Users/{id}.
func (s *Service) ReplaceUser(ctx context.Context, c *Call, id string, body []byte) (*Result, error) {
	doc, ignored, err := s.readUser(body)
	if err != nil {
		return nil, err
	}
	var res *Result
	err = s.inTx(ctx, c, func(tx Tx) error {
		u, sub, err := tx.LockSubject(ctx, id)
		if err != nil {
			return err
		}
		c.describeUser(u.ID, u.Doc)
		if err := c.Pre.check(u.Version, false); err != nil {
			return err
		}
		if err := s.updateUser(ctx, tx, u, sub, doc); err != nil {
			return err
		}
		c.describeUser(u.ID, doc)
		out := s.renderUser(c, u)
		res = s.userResult(c, 200, u, out)
		return s.commit(ctx, tx, c, 200, out, "replaced user "+c.Log.UserName+dropped(ignored))
	})
	return res, s.writeErr(err, "User", id, "userName")
}

// updateUser stores u's new document and re-evaluates its permissions if
// anything the policy reads changed (or they were computed under another
// version). A PATCH that changes a title the policy never reads costs no
// evaluation. A new displayName is also a new version of u's groups, whose
// members carry it as their display.
func (s *Service) updateUser(ctx context.Context, tx Tx, u *UserRecord, sub *Subject, doc resource.Doc) error {
	before := PolicyInput(u.ID, u.Doc)
	renamed := !reflect.DeepEqual(u.Doc["displayName"], doc["displayName"])
	change := userUpdated(u.ID, u.Doc, doc)
	u.Doc, u.LastModified, u.Version = doc, s.now(), u.Version+1
	if err := tx.UpdateUser(ctx, u); err != nil {
		return err
	}
	if err := tx.RecordChanges(ctx, []Change{change}); err != nil {
		return err
	}
	if renamed {
		if err := tx.TouchGroupsOf(ctx, u.ID, u.LastModified); err != nil {
			return err
		}
	}
	sub.User = PolicyInput(u.ID, doc)
	if p := s.policy.Load(); p != nil && sub.Version == p.Version && !p.readsChanged(before, sub.User) {
		return nil
	}
	return s.apply(ctx, tx, []*Subject{sub})
}

// PatchUser handles PATCH /Users/{id}.
func (s *Service) PatchUser(ctx context.Context, c *Call, id string, body []byte) (*Result, error) {
	var res *Result
	err := s.inTx(ctx, c, func(tx Tx) error {
		u, sub, err := tx.LockSubject(ctx, id)
		if err != nil {
			return err
		}
		c.describeUser(u.ID, u.Doc)
		if err := c.Pre.check(u.Version, false); err != nil {
			return err
		}
		pr, err := s.UserKind().Patch(u.Doc, body)
		if err != nil {
			return err
		}
		if pr.Changed {
			if err := requireString(pr.Doc, "userName"); err != nil {
				return err
			}
			if err := s.updateUser(ctx, tx, u, sub, pr.Doc); err != nil {
				return err
			}
		}
		c.describeUser(u.ID, u.Doc)
		out := s.renderUser(c, u)
		res = s.userResult(c, 200, u, out)
		summary := "patched user " + c.Log.UserName + ": " + strings.Join(pr.Summary, ", ")
		if !pr.Changed {
			summary += " (no change)"
		}
		return s.commit(ctx, tx, c, 200, out, summary+dropped(pr.Dropped))
	})
	return res, s.writeErr(err, "User", id, "userName")
}

// DeleteUser handles DELETE /Users/{id}. The user's groups lose a member:
// each gets a new version.
func (s *Service) DeleteUser(ctx context.Context, c *Call, id string) (*Result, error) {
	err := s.inTx(ctx, c, func(tx Tx) error {
		u, err := tx.LockUser(ctx, id)
		if err != nil {
			return err
		}
		c.describeUser(u.ID, u.Doc)
		if err := c.Pre.check(u.Version, false); err != nil {
			return err
		}
		if err := tx.TouchGroupsOf(ctx, id, s.now()); err != nil {
			return err
		}
		if err := tx.DeleteUser(ctx, id); err != nil {
			return err
		}
		if err := tx.RecordChanges(ctx, []Change{{Kind: ChangeUserDeleted, UserID: id}}); err != nil {
			return err
		}
		return s.commit(ctx, tx, c, 204, nil, "deleted user "+c.Log.UserName)
	})
	if err := s.writeErr(err, "User", id, "userName"); err != nil {
		return nil, err
	}
	return &Result{Status: 204}, nil
}

// writeErr maps store errors of a write on kind/id to SCIM errors.
func (s *Service) writeErr(err error, kind, id, unique string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return notFound(kind, id)
	case errors.Is(err, ErrConflict):
		return conflict(unique)
	}
	return err
}

// ListUsers handles GET /Users and POST /Users/.search.
func (s *Service) ListUsers(ctx context.Context, c *Call, q Query) (*Result, error) {
	users, total, err := s.store.ListUsers(ctx, q)
	if err != nil {
		return nil, err
	}
	resources := make([]map[string]any, len(users))
	for i, u := range users {
		out := s.UserKind().Render(u.Doc, u.Meta, c.Base, nil)
		c.Projection.Apply(s.UserKind(), out)
		resources[i] = out
	}
	if len(users) == 1 {
		c.describeUser(users[0].ID, users[0].Doc)
	}
	b, _ := json.Marshal(resource.ListResponse(total, q.Start, resources))
	return &Result{Status: 200, Body: b}, nil
}
