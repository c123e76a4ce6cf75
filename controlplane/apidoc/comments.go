package apidoc

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// module is the repository's module path; packages below it are read from
// the repository's root.
const module = "github.com/scimplane/scimplane"

// comments are the doc comments of the types in the repository's packages,
// read from their sources as the generator meets them.
type comments struct {
	root string
	pkgs map[string]*pkgDocs // by import path
}

type pkgDocs struct {
	types  map[string]string            // type name -> doc
	fields map[string]map[string]string // type name -> field name -> doc
}

func newComments(root string) *comments {
	return &comments{root: root, pkgs: map[string]*pkgDocs{}}
}

func (c *comments) typeDoc(t reflect.Type) string {
	return c.pkg(t.PkgPath()).types[t.Name()]
}

// fieldDoc is a field's comment, with the Go field name it starts with
// (Go's convention) replaced by the JSON name.
func (c *comments) fieldDoc(t reflect.Type, field, jsonName string) string {
	d := c.pkg(t.PkgPath()).fields[t.Name()][field]
	if rest, ok := strings.CutPrefix(d, field+" "); ok && jsonName != "" {
		d = "`" + jsonName + "` " + rest
	}
	return d
}

func (c *comments) pkg(path string) *pkgDocs {
	if p, ok := c.pkgs[path]; ok {
		return p
	}
	p := &pkgDocs{types: map[string]string{}, fields: map[string]map[string]string{}}
	c.pkgs[path] = p
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return p
	}
	dir := filepath.Join(c.root, filepath.FromSlash(rel))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return p // undescribed, rather than no document
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			continue // a file that does not parse does not build either
		}
		p.read(f)
	}
	return p
}

// read records the doc comments of f's types and their fields.
func (p *pkgDocs) read(f *ast.File) {
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			doc := ts.Doc
			if doc == nil && len(gd.Specs) == 1 {
				doc = gd.Doc
			}
			p.types[ts.Name.Name] = text(doc)
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			fields := map[string]string{}
			for _, fld := range st.Fields.List {
				d := fld.Doc
				if d == nil {
					d = fld.Comment
				}
				for _, n := range fld.Names {
					fields[n.Name] = text(d)
				}
			}
			p.fields[ts.Name.Name] = fields
		}
	}
}

// text is a comment as one paragraph per blank-line-separated block, its
// lines joined.
func text(g *ast.CommentGroup) string {
	if g == nil {
		return ""
	}
	var paras []string
	for _, para := range strings.Split(strings.TrimSpace(g.Text()), "\n\n") {
		paras = append(paras, strings.Join(strings.Fields(para), " "))
	}
	return strings.Join(paras, "\n\n")
}
