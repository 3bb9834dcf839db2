# expect: compile error
if size :over "100" { keep; }
