package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"
)

// parsePages parses each page template together with the layout.
func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := strings.TrimSuffix(path.Base(name), ".html")
		if base == "layout" {
			continue
		}
		pages[base] = template.Must(template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", name))
	}
	return pages
}

var funcs = template.FuncMap{
	// tpath is a console URL under a tenant: tpath "tnt_x" "groups" "g1".
	"tpath": func(id string, parts ...any) string {
		p := prefix + "/tenants/" + url.PathEscape(id)
		for _, s := range parts {
			p += "/" + url.PathEscape(fmt.Sprint(s))
		}
		return p
	},
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
	},
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"ago":  ago,
	"pct":  func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
	// statusClass picks a badge colour for an HTTP status.
	"statusClass": func(code int) string {
		switch {
		case code >= 500:
			return "bad"
		case code >= 400:
			return "warn"
		case code >= 200 && code < 300:
			return "good"
		}
		return "neutral"
	},
	"latency": func(us int64) string {
		if us >= 10_000 {
			return fmt.Sprintf("%d ms", us/1000)
		}
		return fmt.Sprintf("%.1f ms", float64(us)/1000)
	},
	"opClass": func(op rune) string {
		switch op {
		case '+':
			return "add"
		case '-':
			return "del"
		case '…':
			return "fold"
		}
		return "same"
	},
	"lines": func(s string) int { return strings.Count(s, "\n") + 1 },
	// rows sizes a textarea to its text, within bounds.
	"rows": func(s string) int { return max(4, min(40, strings.Count(s, "\n")+2)) },
	// link adds query parameters (the non-empty ones) to a URL. Whole URLs
	// go into href attributes, where html/template keeps their query as is.
	"link": func(base string, kv ...string) string {
		u, err := url.Parse(base)
		if err != nil {
			return base
		}
		q := u.Query()
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				q.Set(kv[i], kv[i+1])
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	},
	"list": func(s ...string) []string { return s },
	// dict passes several values to a shared template.
	"dict": func(kv ...any) map[string]any {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// prettyJSON indents a JSON document; anything else is returned as is.
func prettyJSON(s string) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(s), "", "  "); err != nil {
		return s
	}
	return buf.String()
}

func prettyJSONPtr(s *string) string {
	if s == nil {
		return ""
	}
	return prettyJSON(*s)
}

func prettyJSONValue(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
