require "variables";
if string :is "${missing}" "" { discard; }
