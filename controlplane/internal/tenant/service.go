package tenant

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

const (
	// touchInterval is how often a token's last-used time is written at most.
	touchInterval = time.Minute
	// lookupTimeout bounds a credentials read or last-use write on the SCIM
	// path, so that an unreachable database turns into stale credentials or
	// a 503 well before the request's own deadline.
	lookupTimeout = 3 * time.Second
	// maxUnknown bounds the unknown tenant ids remembered at once.
	maxUnknown = 10000
)

// Service holds the control plane's use cases. Methods taking a Principal
// enforce its role and tenant scope.
type Service struct {
	store     Store
	secret    []byte
	publicURL string
	workers   Workers
	now       func() time.Time

	credTTL    time.Duration
	staleMax   time.Duration
	unknownTTL time.Duration

	mu      sync.Mutex
	touched map[string]time.Time   // token id -> last TouchToken by this replica
	creds   map[string]cachedCreds // tenant id -> its status and active tokens
	unknown map[string]time.Time   // tenant id -> until when it is known not to exist
	// forgets counts forget calls, so that a read that raced with a change
	// made here is not cached.
	forgets uint64
}

// cachedCreds spares the database one query per SCIM request. This replica
// drops an entry whenever it changes the tenant's tokens or status; changes
// made on other replicas apply here within credTTL. While the database is
// unavailable an entry keeps serving until it is staleMax old.
type cachedCreds struct {
	tenant  Tenant
	hashes  []TokenHash
	fetched time.Time // read from the database
	checked time.Time // last read attempted
}

// Params configures a Service.
type Params struct {
	Store Store
	// Secret derives tenant role passwords.
	Secret []byte
	// PublicURL is the base of issued SCIM URLs, without a trailing slash.
	PublicURL string
	Workers   Workers
	// CredentialsTTL bounds how long a token revocation or tenant status
	// change made by another replica takes to apply here; 0 reads the
	// database on every request.
	CredentialsTTL time.Duration
	// CredentialsStaleMax is how long cached credentials keep
	// authenticating while the database is unavailable; 0 answers
	// ErrUnavailable as soon as they lapse.
	CredentialsStaleMax time.Duration
	// UnknownTenantTTL is how long an unknown tenant id is remembered; 0
	// looks every one up.
	UnknownTenantTTL time.Duration
}

// New returns a Service.
func New(p Params) *Service {
	return &Service{
		store:      p.Store,
		secret:     p.Secret,
		publicURL:  p.PublicURL,
		workers:    p.Workers,
		now:        time.Now,
		credTTL:    p.CredentialsTTL,
		staleMax:   p.CredentialsStaleMax,
		unknownTTL: p.UnknownTenantTTL,
		touched:    make(map[string]time.Time),
		creds:      make(map[string]cachedCreds),
		unknown:    make(map[string]time.Time),
	}
}

// SCIMURL is the Tenant URL an admin pastes into Entra.
func (s *Service) SCIMURL(tenantID string) string {
	return s.publicURL + "/scim/" + tenantID + "/v2"
}

// AuthenticateSCIM checks a bearer token against tenantID's active tokens.
// A token of another tenant, an unknown tenant and a bad token are all
// ErrUnauthenticated; a disabled tenant with a good token is ErrDisabled.
// While the database is unavailable it answers from cached credentials up
// to CredentialsStaleMax old, and ErrUnavailable when it has none.
func (s *Service) AuthenticateSCIM(ctx context.Context, tenantID, token string) error {
	if !ValidTenantID(tenantID) {
		return ErrUnknownTenant
	}
	now := s.now()
	t, hashes, err := s.credentials(ctx, tenantID, now)
	if errors.Is(err, ErrNotFound) {
		return ErrUnknownTenant
	}
	if err != nil {
		return fmt.Errorf("authenticate scim: %w", err)
	}
	if !strings.HasPrefix(token, TokenPrefix) {
		return ErrUnauthenticated
	}
	sum := hashSecret(token)
	var match *TokenHash
	for i := range hashes {
		if subtle.ConstantTimeCompare(hashes[i].Hash, sum) == 1 {
			match = &hashes[i]
		}
	}
	if match == nil || match.ExpiresAt != nil && !now.Before(*match.ExpiresAt) {
		return ErrUnauthenticated
	}
	if t.Status != StatusActive {
		return ErrDisabled
	}
	if s.shouldTouch(match.ID, now) {
		// Last use is a statistic: failing to write it (the database is
		// down) must not refuse a valid token. The next try is a minute on.
		tctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		_ = s.store.TouchToken(tctx, match.ID)
		cancel()
	}
	return nil
}

// NeedsLookup reports whether authenticating for tenantID would read the
// database for an id this replica holds nothing about: neither cached
// credentials (of any age) nor a recent "unknown". Callers use it to refuse
// clients that keep failing before they cost another query.
func (s *Service) NeedsLookup(tenantID string) bool {
	if !ValidTenantID(tenantID) {
		return false
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.creds[tenantID]; ok {
		return false
	}
	until, ok := s.unknown[tenantID]
	return !ok || !now.Before(until)
}

// credentials returns the tenant and its active token hashes, from the
// cache when fresh, or stale while the database is unavailable.
func (s *Service) credentials(ctx context.Context, tenantID string, now time.Time) (Tenant, []TokenHash, error) {
	s.mu.Lock()
	c, cached := s.creds[tenantID]
	until, unknown := s.unknown[tenantID]
	forgets := s.forgets
	s.mu.Unlock()
	switch {
	case cached && now.Sub(c.checked) < s.credTTL:
		return c.tenant, c.hashes, nil
	case !cached && unknown && now.Before(until):
		return Tenant{}, nil, ErrNotFound
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	t, hashes, err := s.store.GetCredentials(lctx, tenantID)
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		delete(s.unknown, tenantID)
		if (s.credTTL > 0 || s.staleMax > 0) && s.forgets == forgets {
			s.creds[tenantID] = cachedCreds{tenant: t, hashes: hashes, fetched: now, checked: now}
		}
		return t, hashes, nil
	case errors.Is(err, ErrNotFound):
		delete(s.creds, tenantID)
		s.rememberUnknown(tenantID, now)
		return Tenant{}, nil, err
	case errors.Is(err, ErrUnavailable) && cached && now.Sub(c.fetched) < s.staleMax:
		// Serve what this replica last read; try the database again after
		// another TTL rather than on every request.
		if cur, ok := s.creds[tenantID]; ok && cur.fetched.Equal(c.fetched) {
			cur.checked = now
			s.creds[tenantID] = cur
		}
		return c.tenant, c.hashes, nil
	}
	return Tenant{}, nil, err
}

// rememberUnknown caches tenantID as unknown; s.mu is held. When the cache
// is full it drops expired entries, then an arbitrary one.
func (s *Service) rememberUnknown(tenantID string, now time.Time) {
	if s.unknownTTL <= 0 {
		return
	}
	if len(s.unknown) >= maxUnknown {
		for id, until := range s.unknown {
			if !now.Before(until) {
				delete(s.unknown, id)
			}
		}
		for id := range s.unknown {
			if len(s.unknown) < maxUnknown {
				break
			}
			delete(s.unknown, id)
		}
	}
	s.unknown[tenantID] = now.Add(s.unknownTTL)
}

// forget drops the tenant's cached credentials after this replica changed
// them.
func (s *Service) forget(tenantID string) {
	s.mu.Lock()
	delete(s.creds, tenantID)
	delete(s.unknown, tenantID)
	s.forgets++
	s.mu.Unlock()
}

func (s *Service) shouldTouch(tokenID string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.touched[tokenID]; ok && now.Sub(last) < touchInterval {
		return false
	}
	s.touched[tokenID] = now
	return true
}

// AuthenticateKey resolves an admin API key to its Principal. A console
// session id, when the request comes from the console, must not have been
// signed out.
func (s *Service) AuthenticateKey(ctx context.Context, key, consoleSession string) (Principal, error) {
	if !strings.HasPrefix(key, KeyPrefix) {
		return Principal{}, ErrUnauthenticated
	}
	k, err := s.store.GetAPIKeyByHash(ctx, hashSecret(key))
	if errors.Is(err, ErrNotFound) || err == nil && k.RevokedAt != nil {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate key: %w", err)
	}
	if consoleSession != "" {
		ended, err := s.store.ConsoleSessionEnded(ctx, hashSecret(consoleSession))
		if err != nil {
			return Principal{}, fmt.Errorf("authenticate key: console session: %w", err)
		}
		if ended {
			return Principal{}, ErrUnauthenticated
		}
	}
	return Principal{KeyID: k.ID, Role: k.Role, TenantID: k.TenantID, consoleSession: consoleSession}, nil
}

// maxConsoleSession bounds how long a signed-out console session is
// remembered, whatever expiry the console claims for it.
const maxConsoleSession = 24 * time.Hour

// EndConsoleSession signs out the console session p came with: from now
// on, on every replica, the API refuses requests carrying its id even
// with a valid key. The session's own expiry bounds how long that is
// remembered.
func (s *Service) EndConsoleSession(ctx context.Context, p Principal, expires time.Time) error {
	if p.consoleSession == "" {
		return invalid("the request names no console session")
	}
	now := s.now()
	if expires.Before(now) || expires.After(now.Add(maxConsoleSession)) {
		expires = now.Add(maxConsoleSession)
	}
	if err := s.store.EndConsoleSession(ctx, hashSecret(p.consoleSession), p.KeyID, expires); err != nil {
		return fmt.Errorf("end console session: %w", err)
	}
	return nil
}

// EnsureBootstrapKey makes key the bootstrap operator key. With an empty
// key it generates one if none exists yet and returns it (to be shown
// once); otherwise it returns "".
func (s *Service) EnsureBootstrapKey(ctx context.Context, key string) (string, error) {
	replace := key != ""
	if !replace {
		key = newSecret(KeyPrefix)
	}
	k := APIKey{ID: BootstrapKeyID, Name: "bootstrap", Role: RoleOperator, CreatedAt: s.now()}
	wrote, err := s.store.PutBootstrapKey(ctx, k, hashSecret(key), replace)
	if err != nil {
		return "", fmt.Errorf("bootstrap key: %w", err)
	}
	if replace || !wrote {
		return "", nil
	}
	return key, nil
}

// CreatedTenant is a new tenant with its first token, shown only once.
type CreatedTenant struct {
	Tenant
	SCIMURL string `json:"scim_url"`
	Token   string `json:"token"`
	TokenID string `json:"token_id"`
}

// CreateTenant provisions a tenant: control rows, PostgreSQL role and
// schema, and a first SCIM token.
func (s *Service) CreateTenant(ctx context.Context, p Principal, name string) (CreatedTenant, error) {
	if p.Role != RoleOperator {
		return CreatedTenant{}, ErrForbidden
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 {
		return CreatedTenant{}, invalid("name must be 1 to 200 characters")
	}
	if err := checkText("name", name); err != nil {
		return CreatedTenant{}, err
	}
	now := s.now().UTC()
	t := Tenant{ID: newID(TenantPrefix), Name: name, Status: StatusActive, CreatedAt: now}
	secret := newSecret(TokenPrefix)
	tok := Token{ID: newID(tokenIDPfx), TenantID: t.ID, Name: "initial", CreatedAt: now}
	nt := NewTenant{Tenant: t, Token: tok, TokenHash: hashSecret(secret)}
	if err := s.store.CreateTenant(ctx, nt, p.audit("tenant.create", t.ID, name)); err != nil {
		return CreatedTenant{}, fmt.Errorf("create tenant: %w", err)
	}
	s.forget(t.ID)
	// Best effort: if it fails, the first SCIM request binds a worker.
	_ = s.workers.Warm(ctx, t.ID)
	return CreatedTenant{Tenant: t, SCIMURL: s.SCIMURL(t.ID), Token: secret, TokenID: tok.ID}, nil
}

// TenantView is a tenant as the admin API shows it.
type TenantView struct {
	Tenant
	SCIMURL string `json:"scim_url"`
}

// ListTenants returns the tenants p may read.
func (s *Service) ListTenants(ctx context.Context, p Principal) ([]TenantView, error) {
	var ts []Tenant
	if p.Role == RoleOperator || p.Role == RoleSupport && p.TenantID == "" {
		var err error
		if ts, err = s.store.ListTenants(ctx); err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
	} else {
		t, err := s.store.GetTenant(ctx, p.TenantID)
		if err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		ts = []Tenant{t}
	}
	views := make([]TenantView, len(ts))
	for i, t := range ts {
		views[i] = TenantView{Tenant: t, SCIMURL: s.SCIMURL(t.ID)}
	}
	return views, nil
}

// GetTenant returns one tenant p may read.
func (s *Service) GetTenant(ctx context.Context, p Principal, id string) (TenantView, error) {
	if !p.canRead(id) {
		return TenantView{}, ErrForbidden
	}
	t, err := s.store.GetTenant(ctx, id)
	if err != nil {
		return TenantView{}, fmt.Errorf("get tenant: %w", err)
	}
	return TenantView{Tenant: t, SCIMURL: s.SCIMURL(t.ID)}, nil
}

// SetEnabled enables or disables a tenant. A disabled tenant's SCIM calls
// are refused and its worker is stopped.
func (s *Service) SetEnabled(ctx context.Context, p Principal, id string, enabled bool) error {
	if p.Role != RoleOperator {
		return ErrForbidden
	}
	status, action := StatusActive, "tenant.enable"
	if !enabled {
		status, action = StatusDisabled, "tenant.disable"
	}
	if err := s.store.SetTenantStatus(ctx, id, status, p.audit(action, id, "")); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	s.forget(id)
	if !enabled {
		s.workers.Stop(id)
	}
	return nil
}

// DeleteTenant stops the tenant's worker and drops its data, schema and
// role. confirm must repeat the tenant id.
func (s *Service) DeleteTenant(ctx context.Context, p Principal, id, confirm string) error {
	if p.Role != RoleOperator {
		return ErrForbidden
	}
	if confirm != id {
		return invalid("deleting a tenant drops all its data: repeat its id in ?confirm=")
	}
	if _, err := s.store.GetTenant(ctx, id); err != nil {
		return fmt.Errorf("delete tenant: %w", err)
	}
	s.workers.Stop(id)
	if err := s.store.DeleteTenant(ctx, id, p.audit("tenant.delete", id, "")); err != nil {
		return fmt.Errorf("delete tenant: %w", err)
	}
	s.forget(id)
	s.workers.Stop(id) // in case a request started it again meanwhile
	return nil
}

// CreateTokenParams describes a new SCIM token.
type CreateTokenParams struct {
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// CreatedToken is a new token, its secret shown only once.
type CreatedToken struct {
	Token
	Secret string `json:"token"`
}

// CreateToken issues another SCIM token for a tenant; older tokens keep
// working until revoked, so rotation can overlap.
func (s *Service) CreateToken(ctx context.Context, p Principal, tenantID string, in CreateTokenParams) (CreatedToken, error) {
	if !p.canManage(tenantID) {
		return CreatedToken{}, ErrForbidden
	}
	now := s.now().UTC()
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		return CreatedToken{}, invalid("expires_at must be in the future")
	}
	if utf8.RuneCountInString(in.Name) > 200 {
		return CreatedToken{}, invalid("name must be at most 200 characters")
	}
	if err := checkText("name", in.Name); err != nil {
		return CreatedToken{}, err
	}
	secret := newSecret(TokenPrefix)
	t := Token{ID: newID(tokenIDPfx), TenantID: tenantID, Name: in.Name, CreatedAt: now, ExpiresAt: in.ExpiresAt}
	if err := s.store.CreateToken(ctx, t, hashSecret(secret), p.audit("token.create", tenantID, t.ID)); err != nil {
		return CreatedToken{}, fmt.Errorf("create token: %w", err)
	}
	s.forget(tenantID)
	return CreatedToken{Token: t, Secret: secret}, nil
}

// ListTokens returns a tenant's tokens (never their secrets).
func (s *Service) ListTokens(ctx context.Context, p Principal, tenantID string) ([]Token, error) {
	if !p.canRead(tenantID) {
		return nil, ErrForbidden
	}
	ts, err := s.store.ListTokens(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// RevokeToken stops a token from working.
func (s *Service) RevokeToken(ctx context.Context, p Principal, tenantID, tokenID string) error {
	if !p.canManage(tenantID) {
		return ErrForbidden
	}
	if err := s.store.RevokeToken(ctx, tenantID, tokenID, p.audit("token.revoke", tenantID, tokenID)); err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	s.forget(tenantID)
	return nil
}

// CreateAPIKeyParams describes a new admin API key.
type CreateAPIKeyParams struct {
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	TenantID string `json:"tenant_id"`
}

// CreatedAPIKey is a new key, its secret shown only once.
type CreatedAPIKey struct {
	APIKey
	Secret string `json:"key"`
}

// CreateAPIKey issues an admin API key. Tenant admins need a tenant scope;
// support keys are scoped to one tenant or, unscoped, read every tenant.
func (s *Service) CreateAPIKey(ctx context.Context, p Principal, in CreateAPIKeyParams) (CreatedAPIKey, error) {
	if p.Role != RoleOperator {
		return CreatedAPIKey{}, ErrForbidden
	}
	switch {
	case in.Role != RoleOperator && in.Role != RoleTenantAdmin && in.Role != RoleSupport:
		return CreatedAPIKey{}, invalid("role must be operator, tenant_admin or support")
	case in.Role == RoleOperator && in.TenantID != "":
		return CreatedAPIKey{}, invalid("operator keys have no tenant scope")
	case in.Role == RoleTenantAdmin && in.TenantID == "":
		return CreatedAPIKey{}, invalid("tenant_admin keys need a tenant_id")
	case utf8.RuneCountInString(in.Name) > 200:
		return CreatedAPIKey{}, invalid("name must be at most 200 characters")
	}
	if err := checkText("name", in.Name); err != nil {
		return CreatedAPIKey{}, err
	}
	if in.TenantID != "" {
		if _, err := s.store.GetTenant(ctx, in.TenantID); err != nil {
			return CreatedAPIKey{}, fmt.Errorf("create api key: %w", err)
		}
	}
	secret := newSecret(KeyPrefix)
	k := APIKey{ID: newID(keyIDPfx), Name: in.Name, Role: in.Role, TenantID: in.TenantID, CreatedAt: s.now().UTC()}
	if err := s.store.CreateAPIKey(ctx, k, hashSecret(secret), p.audit("apikey.create", in.TenantID, k.ID+" "+string(k.Role))); err != nil {
		return CreatedAPIKey{}, fmt.Errorf("create api key: %w", err)
	}
	return CreatedAPIKey{APIKey: k, Secret: secret}, nil
}

// ListAPIKeys returns every admin API key (never their secrets).
func (s *Service) ListAPIKeys(ctx context.Context, p Principal) ([]APIKey, error) {
	if p.Role != RoleOperator {
		return nil, ErrForbidden
	}
	ks, err := s.store.ListAPIKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return ks, nil
}

// RevokeAPIKey stops an admin API key from working.
func (s *Service) RevokeAPIKey(ctx context.Context, p Principal, id string) error {
	if p.Role != RoleOperator {
		return ErrForbidden
	}
	if err := s.store.RevokeAPIKey(ctx, id, p.audit("apikey.revoke", "", id)); err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	return nil
}

// ListAudit returns the newest audit entries, for one tenant or (operators
// and unscoped support only) for all.
func (s *Service) ListAudit(ctx context.Context, p Principal, tenantID string, limit int) ([]AuditEntry, error) {
	if tenantID == "" && !p.canRead("") || tenantID != "" && !p.canRead(tenantID) {
		return nil, ErrForbidden
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	es, err := s.store.ListAudit(ctx, tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return es, nil
}
