package scimserver

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/scimplane/scimplane/plugins/scim"
)

// SchemaSearchRequest identifies the body of a search with POST.
const SchemaSearchRequest = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

// searchQuery reads the body of a search with POST (RFC 7644 section
// 3.4.3) into the query parameters a GET would carry, so both verbs share
// one reading of filter, attributes, excludedAttributes, sortBy, sortOrder,
// startIndex and count. Member names match in any case (RFC 7643 section
// 2.1), unknown members are ignored, and null is the same as absent. The
// body must be a JSON object whose schemas include the SearchRequest URN,
// with members of the types the RFC gives them, else 400 invalidSyntax;
// the URL's own query parameters are not read.
func searchQuery(body []byte) (query, error) {
	var members map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&members); err != nil || members == nil || dec.More() {
		return nil, searchSyntax("a search request body must be one JSON object")
	}
	q := query{}
	var schemas []string
	for name, raw := range members {
		key := strings.ToLower(name)
		if string(raw) == "null" {
			continue
		}
		switch key {
		case "schemas":
			if json.Unmarshal(raw, &schemas) != nil {
				return nil, searchSyntax("schemas must be an array of strings")
			}
		case "filter", "sortby", "sortorder":
			var v string
			if json.Unmarshal(raw, &v) != nil {
				return nil, searchSyntax(name + " must be a string")
			}
			if !printable(v) {
				return nil, searchSyntax(name + " is not valid UTF-8 text")
			}
			q[key] = v
		case "attributes", "excludedattributes":
			// A list of attribute names; a single comma-separated string
			// (the GET spelling) is read too.
			var list []string
			if json.Unmarshal(raw, &list) != nil {
				var one string
				if json.Unmarshal(raw, &one) != nil {
					return nil, searchSyntax(name + " must be an array of strings")
				}
				list = []string{one}
			}
			v := strings.Join(list, ",")
			if !printable(v) {
				return nil, searchSyntax(name + " is not valid UTF-8 text")
			}
			q[key] = v
		case "startindex", "count":
			var n json.Number
			if json.Unmarshal(raw, &n) != nil {
				return nil, searchSyntax(name + " must be an integer")
			}
			// A number that is not an integer is read as GET reads one.
			q[key] = n.String()
		}
	}
	found := false
	for _, s := range schemas {
		found = found || strings.EqualFold(s, SchemaSearchRequest)
	}
	if !found {
		return nil, searchSyntax("a search request's schemas must include " + SchemaSearchRequest)
	}
	return q, nil
}

func searchSyntax(detail string) *scim.Error {
	return scim.NewError(400, scim.TypeInvalidSyntax, detail)
}
