module github.com/sessionjwt/benchfloor

go 1.22
