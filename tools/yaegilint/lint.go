// Package yaegilint finds Go constructs that compile but misbehave silently under Yaegi v0.16.1, the
// interpreter Traefik runs plugins in (docs/yaegi.md). It complements the team's yaegi-pitfalls grep
// (CONTRIBUTING.md), which finds constructs that fail loudly, with two we hit that only a syntax tree
// shows reliably:
//
//   - a tagless switch case with several expressions (`case a, b:`) matches on only some of them;
//   - a tuple assignment to struct fields or elements with several right-hand expressions
//     (`o.a, o.b = "x", f()`) loses some of the assignments;
//   - so does one to plain variables when a right-hand expression calls a function (`p, a = f(), v`
//     leaves a unchanged); `:=` is not affected.
//
// `go test` in this folder checks the plugin (every .go file at the repository root, tests included:
// they run under yaegi test too).
package yaegilint

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
)

// Check returns one line per finding in the .go files directly in dir.
func Check(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var findings []string
	report := func(pos token.Pos, msg string) {
		findings = append(findings, fmt.Sprintf("%s: %s", fset.Position(pos), msg))
	}
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			return nil, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SwitchStmt:
				if n.Tag != nil {
					return true
				}
				for _, s := range n.Body.List {
					if cc, ok := s.(*ast.CaseClause); ok && len(cc.List) > 1 {
						report(cc.Pos(), "tagless switch case with several expressions: Yaegi matches only some; use ||")
					}
				}
			case *ast.AssignStmt:
				if len(n.Lhs) < 2 || len(n.Rhs) < 2 {
					return true
				}
				for _, l := range n.Lhs {
					switch l.(type) {
					case *ast.SelectorExpr, *ast.IndexExpr, *ast.StarExpr:
						report(n.Pos(), "tuple assignment to a field or element: Yaegi may drop part of it; one per statement")
						return true
					}
				}
				if n.Tok != token.ASSIGN {
					return true
				}
				for _, r := range n.Rhs {
					if _, isCall := r.(*ast.CallExpr); isCall {
						report(n.Pos(), "tuple assignment with a call among several values: Yaegi drops the others; one per statement")
						return true
					}
				}
			}
			return true
		})
	}
	return findings, nil
}
