# a comment
/* a block
   comment */ if /* inline */ true { # trailing
 discard; }
