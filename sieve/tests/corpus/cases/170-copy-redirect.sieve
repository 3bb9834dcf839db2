require "copy";
redirect :copy "carol@example.org";
