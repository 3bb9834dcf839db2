# expect: compile error
redirect "abc;
