// The default text `kiln quantize` measures perplexity on: plain English prose of everyday topics,
// written for kiln, long enough for a few hundred tokens with any tokenizer.
export const DEFAULT_EVAL_TEXT = `The market opened early on Saturday, before the fog had lifted from the river. Farmers
unloaded crates of apples, pears and late tomatoes, and the baker from the corner shop set out
loaves that were still warm. Most people came for bread and coffee, but they stayed to talk about
the weather, the new bridge and the price of firewood.

A good map is a simplification that tells the truth. It leaves out almost everything about a
place, yet it lets a stranger find the station, the library and the road home. Programs are much
the same: a clear function does one thing, names it plainly, and hides the details that its
callers do not need to know.

When the storm reached the coast, the harbour master ordered every boat to stay tied up. Waves
broke over the sea wall for most of the night. By morning the wind had dropped, the sky was a pale
grey, and children were already searching the beach for shells and pieces of driftwood.

Learning to cook takes patience more than talent. Start with a few simple dishes, taste as you
go, and write down what worked. Salt, heat and time do most of the work; the rest is paying
attention to what is in the pan and not rushing the onions.

The library keeps old newspapers on long shelves in the basement. Reading them is like listening
to a town talk to itself across a hundred years: the same worries about rain, prices and schools
return in every decade, told in slightly different words.`
