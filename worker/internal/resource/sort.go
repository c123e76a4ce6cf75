package resource

import (
	"strings"

	"github.com/scimplane/scimplane/plugins/scim"
)

// Sort is a resolved sortBy and sortOrder (RFC 7644 section 3.4.2.3).
// Ref.Sub is set for a complex attribute; for a multi-valued one the store
// orders by the primary value, or else the first. Resources without a
// value come last in ascending order and first in descending order.
type Sort struct {
	Ref        AttrRef
	Descending bool
}

// ParseSortOrder reads sortOrder: "ascending" (the default) or
// "descending", in any case.
func ParseSortOrder(order string) (descending bool, err error) {
	switch strings.ToLower(strings.TrimSpace(order)) {
	case "", "ascending":
		return false, nil
	case "descending":
		return true, nil
	}
	return false, scim.NewError(400, scim.TypeInvalidValue, `sortOrder must be "ascending" or "descending"`)
}

// ParseSort resolves sortBy for this kind; an empty sortBy is no sort (nil,
// and sortOrder is then ignored). An attribute this kind does not have,
// members, or a complex attribute without a value sub-attribute is 400
// invalidPath.
func (k *Kind) ParseSort(sortBy, sortOrder string) (*Sort, error) {
	sortBy = strings.TrimSpace(sortBy)
	if sortBy == "" {
		return nil, nil
	}
	desc, err := ParseSortOrder(sortOrder)
	if err != nil {
		return nil, err
	}
	ref, err := k.sortRef(sortBy)
	if err != nil {
		return nil, err
	}
	return &Sort{Ref: ref, Descending: desc}, nil
}

func errSort(detail string) *scim.Error {
	return scim.NewError(400, scim.TypeInvalidPath, detail)
}

// sortRef resolves a sortBy attribute path.
func (k *Kind) sortRef(sortBy string) (AttrRef, error) {
	if strings.ContainsAny(sortBy, `[]()" `) {
		return AttrRef{}, errSort("sortBy " + sortBy + " is not an attribute path")
	}
	ref, err := k.resolvePath(attrPath(sortBy))
	if err != nil {
		return AttrRef{}, errSort("sortBy names an unknown attribute " + sortBy)
	}
	if k.Name == "Group" && ref.Attr.Name == "members" {
		return AttrRef{}, errSort("groups cannot be sorted by members")
	}
	if ref.Sub == nil && ref.Attr.Type == Complex {
		if ref.Sub = ref.Attr.FindSub("value"); ref.Sub == nil {
			return AttrRef{}, errSort("sortBy " + sortBy + " is complex; name one of its sub-attributes")
		}
	}
	return ref, nil
}
