module github.com/sessionjwt/sessionjwt/demo/backend

go 1.22
