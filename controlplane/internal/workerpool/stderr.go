package workerpool

import (
	"bytes"
	"io"
)

// stderrLines copies a worker's stderr to out line by line, dropping the
// debug and trace lines go-plugin's server side logs in hclog JSON. The
// worker's own slog lines pass through unchanged. go-plugin calls Write
// with one line and then with its newline.
type stderrLines struct{ out io.Writer }

var (
	hclogDebug = []byte(`{"@level":"debug"`)
	hclogTrace = []byte(`{"@level":"trace"`)
)

func (s stderrLines) Write(b []byte) (int, error) {
	if len(b) == 0 || len(b) == 1 && b[0] == '\n' || bytes.HasPrefix(b, hclogDebug) || bytes.HasPrefix(b, hclogTrace) {
		return len(b), nil
	}
	line := append(b[:len(b):len(b)], '\n')
	if _, err := s.out.Write(line); err != nil {
		return 0, err
	}
	return len(b), nil
}
