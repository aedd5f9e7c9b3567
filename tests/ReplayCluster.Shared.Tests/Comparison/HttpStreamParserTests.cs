using System.IO.Compression;
using CsCheck;
using System.Text;
using ReplayCluster.Comparison;

namespace ReplayCluster.Shared.Tests.Comparison;

public sealed class HttpStreamParserTests
{
    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(7)]
    [InlineData(1)]
    public void Keep_alive_exchanges_pair_in_order_whatever_the_chunking(int piece)
    {
        var side = new CollectingSide();
        for (var i = 0; i < 3; i++)
        {
            side.Client(HttpText.Request("GET", $"/items/{i}"), piece);
            side.Server(HttpText.Response(200, $"{{\"id\":{i}}}", "Content-Type: application/json"), piece);
        }

        side.Finish();

        Assert.Equal(3, side.Exchanges.Count);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal($"/items/{i}", side.Exchanges[i].Request!.Target);
            Assert.Equal($"{{\"id\":{i}}}", side.Exchanges[i].Response!.Text());
        }

        Assert.Empty(side.Counters.Snapshot());
    }

    [Fact]
    public void Pipelined_requests_are_answered_in_order_even_when_responses_arrive_in_one_burst()
    {
        var side = new CollectingSide();
        side.Client([.. HttpText.Request("GET", "/a"), .. HttpText.Request("POST", "/b", "{\"x\":1}"), .. HttpText.Request("GET", "/c")]);
        side.Server([.. HttpText.Response(200, "A"), .. HttpText.Response(201, "B"), .. HttpText.Response(404, "C")], piece: 5);
        side.Finish();

        Assert.Equal(["/a", "/b", "/c"], side.Exchanges.Select(e => e.Request!.Target));
        Assert.Equal([200, 201, 404], side.Exchanges.Select(e => e.Response!.Status));
        Assert.Equal(["A", "B", "C"], side.Exchanges.Select(e => e.Response!.Text()));
        Assert.Equal(7, side.Exchanges[1].Request!.BodyLength);
    }

    [Fact]
    public void A_response_that_arrives_before_its_request_waits_for_it()
    {
        var side = new CollectingSide();
        side.Client(Encoding.ASCII.GetBytes("GET /a HTTP/1.1\r\nHost: lab\r\n"));
        side.Server(HttpText.Response(200, "A"));
        Assert.Empty(side.Exchanges);

        side.Client("\r\n"u8.ToArray());
        Assert.Single(side.Exchanges);
        Assert.Equal("A", side.Exchanges[0].Response!.Text());
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(3)]
    [InlineData(1)]
    public void Chunked_gzip_bodies_are_decoded_and_trailers_skipped(int piece)
    {
        var json = "{\"user\":{\"name\":\"ann\",\"age\":41},\"tags\":[\"a\",\"b\"]}";
        var side = new CollectingSide();
        side.Client(HttpText.Request("GET", "/users/1"));
        side.Server(HttpText.Chunked(200, HttpText.Gzip(json), chunkSize: 9, "Content-Encoding: gzip", "Content-Type: application/json"), piece);
        side.Client(HttpText.Request("GET", "/next"));
        side.Server(HttpText.Response(200, "next"));
        side.Finish();

        Assert.Equal(2, side.Exchanges.Count);
        var response = side.Exchanges[0].Response!;
        Assert.Equal(BodyCompleteness.Whole, response.Completeness);
        Assert.Equal(json, response.Text());
        Assert.Equal("next", side.Exchanges[1].Response!.Text());
    }

    [Fact]
    public void Deflate_in_both_its_zlib_and_raw_forms_is_decoded()
    {
        static byte[] Compress(bool zlib)
        {
            var output = new MemoryStream();
            using (Stream stream = zlib ? new ZLibStream(output, CompressionLevel.Fastest, true) : new DeflateStream(output, CompressionLevel.Fastest, true))
            {
                stream.Write("deflated body"u8);
            }

            return output.ToArray();
        }

        var side = new CollectingSide();
        foreach (var zlib in new[] { true, false })
        {
            side.Client(HttpText.Request("GET", "/d"));
            side.Server(HttpText.Response(200, Compress(zlib), "Content-Encoding: deflate"));
        }

        Assert.All(side.Exchanges, e => Assert.Equal("deflated body", e.Response!.Text()));
    }

    [Fact]
    public void HEAD_and_204_and_304_have_no_body_even_with_a_Content_Length()
    {
        var side = new CollectingSide();
        side.Client([.. HttpText.Request("HEAD", "/big"), .. HttpText.Request("GET", "/cached"), .. HttpText.Request("DELETE", "/x"), .. HttpText.Request("GET", "/after")]);
        side.Server(Encoding.ASCII.GetBytes(
            "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" +
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 12\r\nETag: \"x\"\r\n\r\n" +
            "HTTP/1.1 204 No Content\r\n\r\n" +
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter"));
        side.Finish();

        Assert.Equal([200, 304, 204, 200], side.Exchanges.Select(e => e.Response!.Status));
        Assert.Equal([0L, 0, 0, 5], side.Exchanges.Select(e => e.Response!.BodyLength));
        Assert.Equal("after", side.Exchanges[3].Response!.Text());
        Assert.Empty(side.Counters.Snapshot());
    }

    [Fact]
    public void Interim_100_continue_is_skipped_and_a_close_delimited_body_ends_with_the_stream()
    {
        var side = new CollectingSide();
        side.Client(HttpText.Request("POST", "/upload", "data", "Expect: 100-continue"));
        side.Server(Encoding.ASCII.GetBytes("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"));
        Assert.Empty(side.Exchanges);
        side.Finish();

        Assert.Single(side.Exchanges);
        Assert.Equal("until the end", side.Exchanges[0].Response!.Text());
    }

    [Fact]
    public void A_zip_bomb_is_a_counted_refusal_to_decode_and_compares_by_hash()
    {
        var bomb = new MemoryStream();
        using (var gzip = new GZipStream(bomb, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gzip.Write(new byte[64 * 1024 * 1024]);
        }

        var limits = new HttpParserLimits { MaxBodyBytes = 1024 * 1024, MaxDecodedBodyBytes = 256 * 1024 };
        var side = new CollectingSide(limits);
        side.Client([.. HttpText.Request("GET", "/bomb"), .. HttpText.Request("GET", "/after")]);
        side.Server([.. HttpText.Response(200, bomb.ToArray(), "Content-Encoding: gzip"), .. HttpText.Response(200, "fine")]);

        Assert.Equal(2, side.Exchanges.Count);
        var response = side.Exchanges[0].Response!;
        Assert.Equal(BodyCompleteness.HashOnly, response.Completeness);
        Assert.Equal(bomb.Length, response.BodyLength);
        Assert.True(response.Body.IsEmpty);
        Assert.Equal(1, side.Counters.Get(StreamRefusal.DecodedBodyTooLarge));
        Assert.Equal("fine", side.Exchanges[1].Response!.Text());
    }

    [Fact]
    public void A_body_beyond_the_kept_bound_is_framed_whole_and_hashed()
    {
        var limits = new HttpParserLimits { MaxBodyBytes = 1024 };
        var side = new CollectingSide(limits);
        var body = new byte[10_000];
        new Random(5).NextBytes(body);
        side.Client([.. HttpText.Request("GET", "/big"), .. HttpText.Request("GET", "/small")]);
        side.Server([.. HttpText.Response(200, body), .. HttpText.Response(200, "s")], piece: 1000);

        Assert.Equal(BodyCompleteness.HashOnly, side.Exchanges[0].Response!.Completeness);
        Assert.Equal(10_000, side.Exchanges[0].Response!.BodyLength);
        Assert.Equal("s", side.Exchanges[1].Response!.Text());
    }

    [Fact]
    public void A_garbage_gzip_body_is_counted_as_undecodable()
    {
        var side = new CollectingSide();
        side.Client(HttpText.Request("GET", "/g"));
        side.Server(HttpText.Response(200, "not gzip at all", "Content-Encoding: gzip"));

        Assert.Equal(BodyCompleteness.HashOnly, side.Exchanges[0].Response!.Completeness);
        Assert.Equal(1, side.Counters.Get(StreamRefusal.UndecodableBody));
    }

    public static TheoryData<string, StreamRefusal> MalformedResponses => new()
    {
        { "HTTP/1.1 2x0 OK\r\n\r\n", StreamRefusal.MalformedStatusLine },
        { "HTTP/2.0 200 OK\r\n\r\n", StreamRefusal.MalformedStatusLine },
        { "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", StreamRefusal.MalformedHeader },
        { "HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n", StreamRefusal.MalformedHeader },
        { "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", StreamRefusal.InvalidContentLength },
        { "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", StreamRefusal.InvalidContentLength },
        { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", StreamRefusal.MalformedChunk },
        { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", StreamRefusal.MalformedChunk },
    };

    [Theory]
    [MemberData(nameof(MalformedResponses))]
    public void Malformed_responses_are_named_counted_refusals_and_end_the_side(string response, StreamRefusal expected)
    {
        var side = new CollectingSide();
        side.Client([.. HttpText.Request("GET", "/ok"), .. HttpText.Request("GET", "/bad"), .. HttpText.Request("GET", "/never")]);
        side.Server(HttpText.Response(200, "fine"));
        side.Server(Encoding.ASCII.GetBytes(response));
        side.Server(HttpText.Response(200, "ignored"));
        side.Finish();

        Assert.Equal(1, side.Counters.Get(expected));
        Assert.Equal(2, side.Exchanges.Count);
        Assert.Equal("fine", side.Exchanges[0].Response!.Text());
        Assert.Equal(expected, side.Exchanges[1].Refusal);
        Assert.Equal("/bad", side.Exchanges[1].Request!.Target);
    }

    [Fact]
    public void A_stream_cut_inside_a_body_is_refused_as_truncated()
    {
        var side = new CollectingSide();
        side.Client(HttpText.Request("GET", "/cut"));
        side.Server("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"u8.ToArray());
        side.Finish();

        Assert.Equal(1, side.Counters.Get(StreamRefusal.TruncatedMessage));
        Assert.Equal(StreamRefusal.TruncatedMessage, Assert.Single(side.Exchanges).Refusal);
    }

    [Fact]
    public void Header_count_and_size_bounds_refuse_the_stream()
    {
        var limits = new HttpParserLimits { MaxHeaderCount = 5, MaxHeaderBytes = 512, MaxStreamBufferBytes = 4096 };
        var many = new CollectingSide(limits);
        many.Client(HttpText.Request("GET", "/"));
        many.Server(HttpText.Response(200, "x", [.. Enumerable.Range(0, 6).Select(i => $"X-{i}: {i}")]));
        Assert.Equal(1, many.Counters.Get(StreamRefusal.TooManyHeaders));

        var large = new CollectingSide(limits);
        large.Client(HttpText.Request("GET", "/"));
        large.Server(HttpText.Response(200, "x", "X-Big: " + new string('a', 600)), piece: 100);
        Assert.Equal(1, large.Counters.Get(StreamRefusal.HeadersTooLarge));
        Assert.Equal(StreamRefusal.HeadersTooLarge, Assert.Single(large.Exchanges).Refusal);
    }

    [Fact]
    public void A_response_that_outruns_its_request_by_more_than_the_buffer_is_refused()
    {
        var limits = new HttpParserLimits { MaxStreamBufferBytes = 2048, MaxHeaderBytes = 1024, MaxRequestLineBytes = 1024 };
        var side = new CollectingSide(limits);
        side.Client(Encoding.ASCII.GetBytes("GET /slow HTTP/1.1\r\n"));
        side.Server(HttpText.Response(200, new string('b', 4000)), piece: 512);

        Assert.Equal(1, side.Counters.Get(StreamRefusal.StreamBufferFull));
        Assert.True(side.Side.BufferedBytes <= 2048);
    }

    [Fact]
    public void A_request_that_is_malformed_after_good_ones_refuses_the_client_side_after_their_answers()
    {
        var side = new CollectingSide();
        side.Client([.. HttpText.Request("GET", "/a"), .. Encoding.ASCII.GetBytes("GET /b HTTP/1.1\r\nNo colon here\r\n\r\n")]);
        side.Server(HttpText.Response(200, "A"));
        side.Finish();

        Assert.Equal(2, side.Exchanges.Count);
        Assert.Equal("A", side.Exchanges[0].Response!.Text());
        Assert.Equal(StreamRefusal.MalformedHeader, side.Exchanges[1].Refusal);
    }

    [Fact]
    public void A_protocol_switch_ends_parsing_and_is_counted()
    {
        var side = new CollectingSide();
        side.Client(HttpText.Request("GET", "/ws", null, "Upgrade: websocket", "Connection: Upgrade"));
        side.Server(Encoding.ASCII.GetBytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"));
        side.Client([0x81, 0x85, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        side.Finish();

        Assert.Equal(101, Assert.Single(side.Exchanges).Response!.Status);
        Assert.Equal(1, side.Counters.Get(StreamRefusal.ProtocolSwitched));
    }

    [Fact]
    public void A_non_HTTP_stream_falls_back_to_exchanges_between_direction_changes()
    {
        var side = new CollectingSide();
        side.Client([0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f]);
        side.Server("N"u8.ToArray());
        side.Client("Q\0\0\0\x0dselect 1\0"u8.ToArray(), piece: 3);
        side.Server("T\0\0\0"u8.ToArray());
        side.Server("rows"u8.ToArray());
        side.Finish();

        Assert.True(side.Side.IsOpaque);
        Assert.Equal(2, side.Exchanges.Count);
        Assert.Equal(8, side.Exchanges[0].Opaque!.RequestBytes);
        Assert.Equal(1, side.Exchanges[0].Opaque!.ResponseBytes);
        Assert.Equal(8, side.Exchanges[1].Opaque!.ResponseBytes);
        Assert.Empty(side.Counters.Snapshot());
    }

    [Fact]
    public void A_server_that_speaks_first_makes_the_side_non_HTTP()
    {
        var side = new CollectingSide();
        side.Server("220 smtp ready\r\n"u8.ToArray());
        side.Client("EHLO lab\r\n"u8.ToArray());
        side.Server("250 ok\r\n"u8.ToArray());
        side.Finish();

        Assert.True(side.Side.IsOpaque);
        Assert.Equal([0L, 10], side.Exchanges.Select(e => e.Opaque!.RequestBytes));
    }

    [Fact]
    public void Random_bytes_never_throw_and_every_refusal_is_counted()
    {
        var random = new Random(11);
        for (var run = 0; run < 300; run++)
        {
            var side = new CollectingSide(new HttpParserLimits { MaxStreamBufferBytes = 4096, MaxHeaderBytes = 1024, MaxRequestLineBytes = 512 });
            // Half the runs start as HTTP so the parser, not only the fallback, sees garbage.
            if (run % 2 == 0)
            {
                side.Client(HttpText.Request("GET", "/"));
                side.Server("HTTP/1.1 200 OK\r\n"u8.ToArray());
            }

            for (var i = 0; i < 6; i++)
            {
                var data = new byte[random.Next(1, 600)];
                random.NextBytes(data);
                if (random.Next(2) == 0)
                {
                    side.Client(data, random.Next(1, 64));
                }
                else
                {
                    side.Server(data, random.Next(1, 64));
                }
            }

            side.Finish();
            var refusals = side.Exchanges.Count(e => e.Refusal is not null);
            Assert.True(refusals <= 1);
            Assert.True(refusals == 0 || side.Exchanges[^1].Refusal is not null);
            Assert.True(side.Counters.Snapshot().Values.Sum() >= refusals);
            Assert.Equal(0, side.Side.BufferedBytes);
        }
    }

    [Fact]
    public void A_large_head_and_chunked_body_trickling_in_byte_by_byte_parse_like_one_piece()
    {
        // The parser resumes its search where the previous byte left it: every line end must still be found.
        var limits = new HttpParserLimits { MaxHeaderBytes = 20_000, MaxStreamBufferBytes = 32_768 };
        var side = new CollectingSide(limits);
        side.Client(HttpText.Request("GET", "/slow"));
        var headers = Enumerable.Range(0, 90).Select(i => $"X-H{i}: " + new string('v', 170)).ToArray();
        side.Server(HttpText.Chunked(200, "abcdefgh\r\nij"u8.ToArray(), 3, headers), piece: 1);
        side.Client(HttpText.Request("GET", "/next"), piece: 1);
        side.Server("HTTP/1.1 200 OK\n\n"u8.ToArray(), piece: 1);
        side.Finish();

        Assert.Equal(2, side.Exchanges.Count);
        Assert.Equal("abcdefgh\r\nij", side.Exchanges[0].Response!.Text());
        Assert.Equal(90, side.Exchanges[0].Response!.Headers.Count - 1);
        Assert.Equal(200, side.Exchanges[1].Response!.Status);
        Assert.Empty(side.Counters.Snapshot());
    }

    [Fact]
    public void Any_cutting_of_a_keep_alive_conversation_into_pieces_gives_the_same_exchanges()
    {
        byte[] requests = [.. HttpText.Request("GET", "/a"), .. HttpText.Request("POST", "/b", "{\"q\":1}"), .. HttpText.Request("HEAD", "/c"), .. HttpText.Request("GET", "/d")];
        byte[] responses =
        [
            .. HttpText.Response(200, "{\"a\":1}", "Content-Type: application/json"),
            .. HttpText.Chunked(201, HttpText.Gzip("line one\nline two\n"), 5, "Content-Encoding: gzip"),
            .. HttpText.Response(200, (byte[]?)null, "Content-Length: 123"),
            .. HttpText.Response(304, (byte[]?)null, "ETag: \"e\""),
        ];
        static string Describe(CollectingSide side) => string.Join(" | ", side.Exchanges.Select(e =>
            $"{e.Request?.Method} {e.Request?.Target} {e.Request?.BodyHash} -> {e.Response?.Status} {e.Response?.BodyLength} {e.Response?.BodyHash} {e.Refusal}"));
        var whole = new CollectingSide().Client(requests).Server(responses).Finish();
        Assert.Equal(4, whole.Exchanges.Count);
        var expected = Describe(whole);

        Gen.Select(Gen.Int[1, 40], Gen.Int[1, 40], Gen.Bool).Sample((requestPiece, responsePiece, interleave) =>
        {
            var side = new CollectingSide();
            if (interleave)
            {
                // Requests and responses alternate piece by piece, as a pipelining client and a fast server would.
                for (int i = 0, j = 0; i < requests.Length || j < responses.Length; i += requestPiece, j += responsePiece)
                {
                    side.Client(requests[Math.Min(i, requests.Length)..Math.Min(i + requestPiece, requests.Length)]);
                    side.Server(responses[Math.Min(j, responses.Length)..Math.Min(j + responsePiece, responses.Length)]);
                }
            }
            else
            {
                side.Client(requests, requestPiece).Server(responses, responsePiece);
            }

            side.Finish();
            Assert.Equal(expected, Describe(side));
            Assert.Empty(side.Counters.Snapshot());
        }, iter: 300);
    }
}
