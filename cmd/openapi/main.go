// Command openapi writes the admin API's OpenAPI document (see
// controlplane/apidoc) to -o, or to stdout. Run it from the
// repository's root: `make openapi`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/scimplane/scimplane/controlplane/apidoc"
)

func main() {
	out := flag.String("o", "", "file to write (default stdout)")
	root := flag.String("root", ".", "the repository's root")
	flag.Parse()
	doc, err := apidoc.Generate(*root)
	if err == nil {
		if *out == "" {
			_, err = os.Stdout.Write(doc)
		} else {
			err = os.WriteFile(*out, doc, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}
