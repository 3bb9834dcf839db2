# expect: compile error
if address :user "to" "bob" { keep; }
