package tenant

// Principal is the authenticated caller of the admin API, as GET
// /api/v1/me shows it.
type Principal struct {
	KeyID string `json:"key_id"`
	Role  Role   `json:"role"`
	// TenantID is the key's scope; empty for operators and unscoped
	// support keys.
	TenantID string `json:"tenant_id,omitempty"`
	// consoleSession is the console session the request came with, if any.
	consoleSession string
}

// canRead: operators and unscoped support read everything; scoped keys
// read only their tenant. tenantID "" asks for all tenants.
func (p Principal) canRead(tenantID string) bool {
	switch p.Role {
	case RoleOperator:
		return true
	case RoleSupport:
		return p.TenantID == "" || p.TenantID == tenantID
	case RoleTenantAdmin:
		return tenantID != "" && p.TenantID == tenantID
	}
	return false
}

// canManage: write access to one tenant's tokens, policies and data.
func (p Principal) canManage(tenantID string) bool {
	return p.Role == RoleOperator || p.Role == RoleTenantAdmin && p.TenantID == tenantID
}

func (p Principal) audit(action, tenantID, detail string) AuditEntry {
	return AuditEntry{KeyID: p.KeyID, Action: action, TenantID: tenantID, Detail: detail}
}
