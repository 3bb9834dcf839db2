# expect: compile error
keep
discard;
