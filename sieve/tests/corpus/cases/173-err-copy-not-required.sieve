# expect: compile error
redirect :copy "a@example.org";
