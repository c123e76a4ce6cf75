package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/scimplane/scimplane/controlplane/internal/httpapi"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// mappingFile is how policy problems name the mapping document.
const mappingFile = "mapping/data.json"

// editorFile is one textarea of the policy editor with the problems the
// compiler and the tests found in it.
type editorFile struct {
	Name     string
	Src      string
	Problems []string
}

// editor is the policy editor's state: the files, the results of the last
// validate or save, and what it started from.
type editor struct {
	Mapping  editorFile
	Modules  []editorFile
	Comment  string
	From     int64
	Error    string   // the API's summary of a failed check
	Other    []string // problems in no shown file
	Tests    []scimworker.PolicyTest
	Checked  bool // validate ran and passed
	Versions []tenant.PolicyVersion
	Active   int64
}

func (con *console) policyPage(r *request) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	versions, active, err := listVersions(r, t.ID)
	if err != nil {
		return err
	}
	from := active
	if v, err := strconv.ParseInt(r.c.Query("from"), 10, 64); err == nil {
		from = v
	}
	pv, err := bundle(r, t.ID, from)
	if err != nil {
		return err
	}
	ed := &editor{Mapping: editorFile{Name: mappingFile, Src: prettyJSON(string(pv.Mapping))}, From: from, Versions: versions, Active: active}
	for name, src := range pv.Modules {
		ed.Modules = append(ed.Modules, editorFile{Name: name, Src: src})
	}
	sort.Slice(ed.Modules, func(i, j int) bool { return ed.Modules[i].Name < ed.Modules[j].Name })
	return con.renderEditor(r, t, ed)
}

// bundle reads a saved version's files, or with version 0 those of the
// built-in default, which the worker runs while no version is active.
func bundle(r *request, tenantID string, version int64) (*scimworker.PolicyBundle, error) {
	if version > 0 {
		var v tenant.PolicyVersion
		err := r.api.get(r.c.UserContext(), tenantPath(tenantID, "policies", strconv.FormatInt(version, 10)), nil, &v)
		return &v.PolicyBundle, err
	}
	var active scimworker.ActivePolicy
	err := r.api.get(r.c.UserContext(), tenantPath(tenantID, "policies", "active"), nil, &active)
	return &active.PolicyBundle, err
}

func (con *console) renderEditor(r *request, t *tenant.TenantView, ed *editor) error {
	return con.render(r, "policy", page{Title: t.Name + ": policy", Nav: "policy", Tenant: t,
		Data: map[string]any{"Ed": ed, "Manage": r.sess.CanManage(t.ID)}})
}

// listVersions returns the tenant's policy versions, newest first, and the
// active one (0 when the built-in default is in force).
func listVersions(r *request, tenantID string) ([]tenant.PolicyVersion, int64, error) {
	var out httpapi.PolicyList
	if err := r.api.get(r.c.UserContext(), tenantPath(tenantID, "policies"), nil, &out); err != nil {
		return nil, 0, err
	}
	sort.Slice(out.Versions, func(i, j int) bool { return out.Versions[i].Version > out.Versions[j].Version })
	var active int64
	for _, v := range out.Versions {
		if v.Active {
			active = v.Version
		}
	}
	return out.Versions, active, nil
}

// policySubmit validates the edited policy, or saves it as a new version.
func (con *console) policySubmit(r *request) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	ed := editorFromForm(r)
	modules := make(map[string]string, len(ed.Modules))
	for _, m := range ed.Modules {
		modules[m.Name] = m.Src
	}
	in := tenant.NewPolicy{PolicyBundle: scimworker.PolicyBundle{Modules: modules, Mapping: json.RawMessage(ed.Mapping.Src)}, Comment: ed.Comment}
	if !json.Valid([]byte(ed.Mapping.Src)) {
		ed.Mapping.Problems = []string{"not valid JSON: " + jsonErrorAt(ed.Mapping.Src)}
		ed.Error = "the mapping document is not valid JSON"
		return con.renderEditor(r, t, ed)
	}
	save := r.c.FormValue("action") == "save"
	var saved tenant.SavedPolicy
	var checked scimworker.PolicyCheck
	if save {
		err = r.api.post(r.c.UserContext(), tenantPath(t.ID, "policies"), in, &saved)
	} else {
		err = r.api.post(r.c.UserContext(), tenantPath(t.ID, "policies", "validate"), in, &checked)
	}
	var ae *apiError
	var refused scimworker.Error
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusUnprocessableEntity:
		if err := json.Unmarshal(ae.Body, &refused); err != nil {
			return ae
		}
		ed.Error, ed.Tests = refused.Message, refused.Tests
		place(ed, refused.Problems, refused.Tests)
	case err != nil:
		return err
	case save:
		return r.redirect("/tenants/" + url.PathEscape(t.ID) + "/policy/" + strconv.FormatInt(saved.Version, 10) + "?saved=1")
	default:
		ed.Checked, ed.Tests = true, checked.Tests
	}
	if ed.Versions, ed.Active, err = listVersions(r, t.ID); err != nil {
		return err
	}
	return con.renderEditor(r, t, ed)
}

// editorFromForm reads the editor's fields: the mapping, each module (an
// emptied module is dropped) and the optional new module. Browsers send
// textareas with CRLF line ends; the policy keeps LF.
func editorFromForm(r *request) *editor {
	args := r.c.Request().PostArgs()
	text := func(b []byte) string { return strings.ReplaceAll(string(b), "\r\n", "\n") }
	ed := &editor{Mapping: editorFile{Name: mappingFile, Src: text(args.Peek("mapping"))}, Comment: string(args.Peek("comment"))}
	ed.From, _ = strconv.ParseInt(string(args.Peek("from")), 10, 64)
	names, srcs := args.PeekMulti("module_name"), args.PeekMulti("module_src")
	for i := range min(len(names), len(srcs)) {
		name, src := strings.TrimSpace(string(names[i])), text(srcs[i])
		if name == "" || strings.TrimSpace(src) == "" {
			continue
		}
		ed.Modules = append(ed.Modules, editorFile{Name: name, Src: src})
	}
	return ed
}

// place files each compiler problem and failed test under the textarea it
// concerns.
func place(ed *editor, problems []scimworker.PolicyProblem, tests []scimworker.PolicyTest) {
	files := map[string]*editorFile{ed.Mapping.Name: &ed.Mapping}
	for i := range ed.Modules {
		files[ed.Modules[i].Name] = &ed.Modules[i]
	}
	add := func(file string, line, col int, msg string) {
		loc := file
		if line > 0 {
			loc += ":" + strconv.Itoa(line)
			if col > 0 {
				loc += ":" + strconv.Itoa(col)
			}
		}
		if f, ok := files[file]; ok {
			f.Problems = append(f.Problems, loc+": "+msg)
		} else {
			ed.Other = append(ed.Other, loc+": "+msg)
		}
	}
	for _, p := range problems {
		add(p.File, p.Line, p.Column, p.Message)
	}
	for _, tr := range tests {
		if tr.Outcome == scimworker.TestFail || tr.Outcome == scimworker.TestError {
			msg := "test " + tr.Name + " " + tr.Outcome
			if tr.Message != "" {
				msg += ": " + tr.Message
			}
			add(tr.File, tr.Line, 0, msg)
		}
	}
}

// jsonErrorAt describes where a JSON document stops being valid.
func jsonErrorAt(src string) string {
	var v any
	err := json.Unmarshal([]byte(src), &v)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return err.Error()
	}
	line := 1 + bytes.Count([]byte(src[:se.Offset]), []byte("\n"))
	return "line " + strconv.Itoa(line) + ": " + se.Error()
}

// versionPage shows one version: its files as a diff against another
// version (the active one by default), with dry run and activation.
func (con *console) versionPage(r *request) error {
	return con.renderVersion(r, nil, "")
}

func (con *console) renderVersion(r *request, dry *scimworker.DryRun, flash string) error {
	t, err := r.tenant()
	if err != nil {
		return err
	}
	ctx := r.c.UserContext()
	v := r.c.Params("version")
	var pv tenant.PolicyVersion
	if err := r.api.get(ctx, tenantPath(t.ID, "policies", v), nil, &pv); err != nil {
		return err
	}
	versions, active, err := listVersions(r, t.ID)
	if err != nil {
		return err
	}
	// Compare with the version asked for, else the active one, else the
	// one before. The built-in default is only readable while in force.
	against := active
	if a, err := strconv.ParseInt(r.c.Query("against"), 10, 64); err == nil {
		against = a
	} else if against == pv.Version {
		against = pv.Version - 1
	}
	var base *scimworker.PolicyBundle
	if against > 0 || active == 0 {
		if base, err = bundle(r, t.ID, max(against, 0)); err != nil {
			return err
		}
	}
	type fileDiff struct {
		Name    string
		Lines   []diffLine
		Changed bool
	}
	var diffs []fileDiff
	if base != nil {
		for _, name := range fileNames(*base, pv.PolicyBundle) {
			oldSrc, newSrc := base.Modules[name], pv.Modules[name]
			if name == mappingFile {
				oldSrc, newSrc = canonicalJSON(base.Mapping), canonicalJSON(pv.Mapping)
			}
			lines := lineDiff(oldSrc, newSrc, 3)
			diffs = append(diffs, fileDiff{Name: name, Lines: lines, Changed: changed(lines)})
		}
	}
	if flash == "" && r.c.Query("saved") != "" {
		flash = "Saved as version " + v + ". Its tests pass. Dry run it to see who gains and loses what, then activate it."
	}
	if n := r.c.Query("activated"); n != "" {
		flash = "Version " + v + " is active; permissions of " + n + " users were recomputed."
	}
	data := map[string]any{"V": pv, "Versions": versions, "Active": active, "Against": against, "Diffs": diffs,
		"Dry": dry, "Flash": flash, "Manage": r.sess.CanManage(t.ID)}
	return con.render(r, "version", page{Title: t.Name + ": policy version " + v, Nav: "policy", Tenant: t, Data: data})
}

// canonicalJSON indents a mapping document with sorted keys, so that a
// diff shows changes of content, not of formatting or key order.
func canonicalJSON(doc json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(doc)
	}
	return prettyJSONValue(v)
}

// fileNames lists the mapping and every module of either version.
func fileNames(a, b scimworker.PolicyBundle) []string {
	seen := map[string]bool{}
	var names []string
	for _, m := range []map[string]string{a.Modules, b.Modules} {
		for name := range m {
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	return append([]string{mappingFile}, names...)
}

func (con *console) dryRun(r *request) error {
	var dry scimworker.DryRun
	if err := r.api.post(r.c.UserContext(), tenantPath(r.c.Params("id"), "policies", r.c.Params("version"), "dry-run"), nil, &dry); err != nil {
		return err
	}
	return con.renderVersion(r, &dry, "")
}

func (con *console) activate(r *request) error {
	id, v := r.c.Params("id"), r.c.Params("version")
	var out scimworker.Activation
	if err := r.api.post(r.c.UserContext(), tenantPath(id, "policies", v, "activate"), nil, &out); err != nil {
		return err
	}
	return r.redirect("/tenants/" + url.PathEscape(id) + "/policy/" + url.PathEscape(v) + "?activated=" + strconv.Itoa(out.Users))
}
