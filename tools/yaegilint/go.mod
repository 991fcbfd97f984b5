module github.com/sessionjwt/sessionjwt/tools/yaegilint

go 1.22
